# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled OTLP trace decoder: protobuf wire format -> column lists, no message objects.

Produces exactly the columns of :func:`collector.decode.decode_request` (the reference
semantics; the tables below are imported from it and from ``collector.conventions``). The
caller validates the body with upb first, so the input is assumed well formed, but every
read is bounds-checked: anything unexpected raises ``ValueError`` (the caller then falls
back to the reference decoder).

Rare protobuf constructs whose merge semantics we do not reproduce (a singular sub-message
such as ``resource``, ``scope``, ``KeyValue.value`` or the same ``AnyValue`` array/kvlist
member occurring more than once, groups) also raise ``ValueError`` for that fallback.
"""

cimport cython
from libc.stdint cimport uint8_t, uint32_t, int32_t, uint64_t, int64_t
from libc.string cimport memcpy, memcmp, memset, memchr
from libc.stdlib cimport malloc, realloc, free
from libc.math cimport isfinite
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free

import base64 as _base64

import orjson as _orjson
import pyarrow as _pa

from collector.conventions import (
    NORMALISED_COLUMNS as _NORM_COLS, NORMALISED_KEYS as _NORMALISED,
    OPERATION_ALIASES as _OPERATION_ALIASES, messaging_fallbacks as _messaging_fallbacks,
    operation_from_name as _operation_from_name, NAME_OPERATIONS as _NAME_OPERATIONS,
    service_name as _service_name, host_of as _host_of,
    SYSTEM_BY_DESTINATION_PRIORITY as _SYSTEM_BY_DEST_PRIO, EMPTY_IS_ABSENT as _EMPTY_IS_ABSENT,
    SYSTEM_BY_KEY as _SYSTEM_BY_KEY, RABBITMQ_ROUTING_KEYS as _RABBITMQ_ROUTING_KEYS,
    rabbitmq_destination as _rabbitmq_destination, KAFKA_PARTITION_KEYS as _KAFKA_PARTITION_KEYS,
    kafka_message_id as _kafka_message_id, AWS_MESSAGING_SERVICES as _AWS_MESSAGING_SERVICES,
    KAFKA_OFFSET_KEYS as _KAFKA_OFFSET_KEYS,
    system_by_value as _system_by_value, SYSTEM_BY_VALUE as _SYSTEM_BY_VALUE,
    rabbitmq_default_exchange_destination as _rabbitmq_default_exchange_destination,
)
from collector.decode import (
    KIND_NAMES as _KIND_NAMES, MAX_VALUE_DEPTH as _MAX_VALUE_DEPTH,
    STATUS_NAMES as _STATUS_NAMES, SPAN_SCHEMA as _SPAN_SCHEMA,
    EVENT_SCHEMA as _EVENT_SCHEMA, LINK_SCHEMA as _LINK_SCHEMA,
    bytes_text as _bytes_text,
)

cdef extern from "string.h":
    # (GNU: pyconfig.h defines _GNU_SOURCE before string.h is read)
    void* memmem(const void* haystack, size_t hlen, const void* needle, size_t nlen)


cdef inline bint eventgrid_hint(const uint8_t* name, Py_ssize_t name_len, const uint8_t* url,
                                Py_ssize_t url_len):
    """Whether a span naming no messaging system, destination or operation may be an Azure
    Event Grid SDK's publish (collector.conventions.eventgrid_publish decides): its name
    starts with 'EventGrid' (any case), or its URL names an Event Grid host."""
    cdef Py_ssize_t i
    cdef const char* word = b"eventgrid"
    if name_len >= 9 and (name[0] == 69 or name[0] == 101):  # 'E' / 'e'
        for i in range(9):
            if (name[i] | 32) != <uint8_t>word[i]:
                break
        else:
            return True
    return url_len > 0 and memmem(url, url_len, b".eventgrid.azure.net", 20) != NULL


cdef inline bint untagged_name_hint(const uint8_t* name, Py_ssize_t name_len):
    """Whether a span naming no messaging system, destination or operation may be one of
    the libraries collector.untagged reads by their span names (untagged_message
    decides): a Dramatiq instrumentor's ('dramatiq.'), a Remoulade instrumentation's
    ('remoulade/'), a Taskiq middleware's ('send/', 'execute/')."""
    return (name_len > 9 and memcmp(name, b"dramatiq.", 9) == 0) \
        or (name_len > 10 and memcmp(name, b"remoulade/", 10) == 0) \
        or (name_len > 5 and memcmp(name, b"send/", 5) == 0) \
        or (name_len > 8 and memcmp(name, b"execute/", 8) == 0)


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int* ptype) except NULL
    int Py_DTSF_ADD_DOT_0
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL


class MalformedWire(ValueError):
    """The wire bytes are not a protobuf this decoder handles (caller falls back)."""


cdef enum:
    K_NONE = 0
    K_STR = 1
    K_BOOL = 2
    K_INT = 3
    K_DOUBLE = 4
    K_ARRAY = 5
    K_KVLIST = 6
    K_BYTES = 7
    N_NORM_KEYS_MAX = 64
    N_NORM_COLS = 12
    MAX_KEY_LEN = 64
    BUCKET = 8

cdef struct AV:
    int kind
    Py_ssize_t off
    Py_ssize_t end
    uint64_t u

cdef struct Entry:
    Py_ssize_t key_off
    Py_ssize_t key_len
    Py_ssize_t txt_s
    Py_ssize_t txt_e
    Py_ssize_t first
    Py_ssize_t last
    AV av

cdef struct Entries:
    Entry* data
    Py_ssize_t n
    Py_ssize_t cap

# ---------------------------------------------------------------- static tables

cdef int MAXD = _MAX_VALUE_DEPTH
_TRUNC_STR = "<nested deeper than %d levels, truncated>" % _MAX_VALUE_DEPTH
cdef bytes _TRUNC_JSON = _orjson.dumps(_TRUNC_STR)
cdef const char* TRUNC_JSON = _TRUNC_JSON
cdef Py_ssize_t TRUNC_JSON_LEN = len(_TRUNC_JSON)

_NORM_KEYS = [k.encode() for k in _NORMALISED]
cdef int n_norm_keys = len(_NORM_KEYS)
cdef const char* norm_key[N_NORM_KEYS_MAX]
cdef int norm_col[N_NORM_KEYS_MAX]
cdef int norm_prio[N_NORM_KEYS_MAX]
cdef bint norm_skip_empty[N_NORM_KEYS_MAX]  # (collector.conventions.EMPTY_IS_ABSENT)
cdef int bucket_n[MAX_KEY_LEN + 1]
cdef int bucket[MAX_KEY_LEN + 1][BUCKET]

cdef int COL_BATCH = _NORM_COLS.index("msg_batch_count")
cdef int COL_OPTYPE = _NORM_COLS.index("msg_operation_type")
cdef int COL_DKIND = _NORM_COLS.index("msg_destination_kind")
cdef int COL_SYSTEM = _NORM_COLS.index("msg_system")
cdef int COL_DEST = _NORM_COLS.index("msg_destination")
cdef int COL_MSGID = _NORM_COLS.index("msg_message_id")
cdef Py_ssize_t AWS_SERVICE_MAXLEN = max(len(k) for k in _AWS_MESSAGING_SERVICES)
cdef int COL_SERVER = _NORM_COLS.index("server_address")

cdef void _init_tables() except *:
    cdef int i, L
    if n_norm_keys > N_NORM_KEYS_MAX or len(_NORM_COLS) != N_NORM_COLS:
        raise ImportError("normalisation tables of collector.decode changed shape")
    memset(bucket_n, 0, sizeof(bucket_n))
    for i in range(n_norm_keys):
        kb = _NORM_KEYS[i]
        col, prio = _NORMALISED[kb.decode()]
        norm_key[i] = <const char*>(<bytes>kb)
        norm_col[i] = _NORM_COLS.index(col)
        norm_prio[i] = prio
        norm_skip_empty[i] = kb.decode() in _EMPTY_IS_ABSENT
        L = len(kb)
        if L > MAX_KEY_LEN or bucket_n[L] >= BUCKET:
            raise ImportError("normalised key table does not fit")
        bucket[L][bucket_n[L]] = i
        bucket_n[L] += 1

_init_tables()
_SYSTEM_BY_KEY_BYTES = [(k.encode(), v) for k, v in _SYSTEM_BY_KEY.items()]
_RABBITMQ_ROUTING_KEYS_BYTES = [k.encode() for k in _RABBITMQ_ROUTING_KEYS]
_KAFKA_PARTITION_KEYS_BYTES = [k.encode() for k in _KAFKA_PARTITION_KEYS]
_KAFKA_OFFSET_KEY_0, _KAFKA_OFFSET_KEY_1 = (k.encode() for k in _KAFKA_OFFSET_KEYS)
# (system_by_value's keys as first_value takes them: encoded once, not per span)
_SYSTEM_BY_VALUE_KEYS = {k: [k.encode()] for k, _ in _SYSTEM_BY_VALUE}

cdef char ESC[256]
cdef void _init_esc():
    cdef int c
    for c in range(256):
        ESC[c] = 0
    for c in range(0x20):
        ESC[c] = b'u'
    ESC[0x08] = b'b'
    ESC[0x09] = b't'
    ESC[0x0a] = b'n'
    ESC[0x0c] = b'f'
    ESC[0x0d] = b'r'
    ESC[0x22] = b'"'
    ESC[0x5c] = b'\\'
_init_esc()

cdef const char* HEX = b"0123456789abcdef"
cdef const char* B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

R_TRACE = "spans with an invalid trace_id (need 16 non-zero bytes)"
R_SPAN = "spans with an invalid span_id (need 8 non-zero bytes)"
R_PARENT = "spans with an invalid parent_span_id (need 8 bytes)"
R_START = "spans with a start time before 2000 or more than 7 days ahead"
R_END = "spans that end before they start"
R_END_RANGE = "spans with an end time out of range"
R_LINK = "links with invalid ids dropped"
UNKNOWN_SERVICE_B = b"unknown_service"

# ---------------------------------------------------------------- helpers

cdef inline Py_ssize_t first_escape(const uint8_t* p, Py_ssize_t ln) noexcept nogil:
    """Index of the first byte that needs a JSON escape (ln if none), 8 bytes at a time."""
    cdef Py_ssize_t i = 0
    cdef uint64_t x, y, z, m
    while i + 8 <= ln:
        memcpy(&x, p + i, 8)
        m = (x - 0x2020202020202020ULL) & ~x                     # some byte < 0x20
        y = x ^ 0x2222222222222222ULL
        m |= (y - 0x0101010101010101ULL) & ~y                    # some byte == '"'
        z = x ^ 0x5c5c5c5c5c5c5c5cULL
        m |= (z - 0x0101010101010101ULL) & ~z                    # some byte == '\\'
        if m & 0x8080808080808080ULL:
            break
        i += 8
    while i < ln and ESC[p[i]] == 0:
        i += 1
    return i

cdef inline uint64_t load64(const uint8_t* p) noexcept nogil:
    return (<uint64_t>p[0] | (<uint64_t>p[1] << 8) | (<uint64_t>p[2] << 16)
            | (<uint64_t>p[3] << 24) | (<uint64_t>p[4] << 32) | (<uint64_t>p[5] << 40)
            | (<uint64_t>p[6] << 48) | (<uint64_t>p[7] << 56))

cdef inline uint32_t load32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16)
            | (<uint32_t>p[3] << 24))

cdef int _bad(str what) except -1:
    raise MalformedWire("malformed OTLP protobuf: " + what)

cdef inline int entries_push(Entries* es) except -1:
    cdef Entry* nd
    cdef Py_ssize_t nc
    if es.n == es.cap:
        nc = es.cap * 2 if es.cap else 16
        nd = <Entry*>realloc(es.data, nc * sizeof(Entry))
        if nd == NULL:
            raise MemoryError()
        es.data = nd
        es.cap = nc
    es.n += 1
    return 0

# collector.conventions.NAME_OPERATIONS: (word, its length, operation)
_NAME_OPS = [(k.encode(), len(k), v) for k, v in _NAME_OPERATIONS.items()]
cdef Py_ssize_t NAME_OP_MIN = min(ln for _, ln, _ in _NAME_OPS)
cdef Py_ssize_t NAME_OP_MAX = max(ln for _, ln, _ in _NAME_OPS)
assert NAME_OP_MAX <= 8  # (name_word_op's buffer)


cdef inline bint ascii_space(uint8_t c) noexcept nogil:
    return c == 32 or 9 <= c <= 13


cdef object name_word_op(const uint8_t* p, Py_ssize_t n):
    """The operation one (ASCII) word of a span name is, or None."""
    cdef char low[8]
    cdef Py_ssize_t i
    if n < NAME_OP_MIN or n > NAME_OP_MAX:
        return None
    for i in range(n):
        low[i] = <char>(p[i] + 32 if 65 <= p[i] <= 90 else p[i])
    for word, ln, op in _NAME_OPS:
        if ln == n and memcmp(low, <const char*>word, n) == 0:
            return op
    return None


cdef object name_operation(const uint8_t* p, Py_ssize_t n):
    """collector.conventions.operation_from_name without making a str of the name, for the
    names str.split() splits as ASCII does (anything else goes to the function itself)."""
    cdef Py_ssize_t i, a, b
    for i in range(n):
        if p[i] >= 0x80 or 0x1c <= p[i] <= 0x1f:
            return _operation_from_name(PyUnicode_DecodeUTF8(<const char*>p, n, NULL))
    i = 0
    while i < n and ascii_space(p[i]):
        i += 1
    if i == n:
        return None
    a = i
    while i < n and not ascii_space(p[i]):
        i += 1
    op = name_word_op(p + a, i - a)
    if op is not None:
        return op
    b = n
    while b > 0 and ascii_space(p[b - 1]):
        b -= 1
    i = b
    while i > 0 and not ascii_space(p[i - 1]):
        i -= 1
    op = name_word_op(p + i, b - i)
    if op is not None:
        return op
    a = b   # (the last part of a dotted last word)
    while a > i and p[a - 1] != 46:
        a -= 1
    if a > i:
        return name_word_op(p + a, b - a)
    return None


cdef inline bint all_zero(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i]:
            return False
    return True


# ---------------------------------------------------------------- Arrow column builders

cdef enum:
    T_STR = 0
    T_I64 = 1
    T_U32 = 2

cdef struct Col:
    int typ
    Py_ssize_t n          # rows
    Py_ssize_t rcap       # row capacity (offsets / fixed values / validity)
    Py_ssize_t nulls
    char* data            # string bytes, or the fixed-width values
    Py_ssize_t dlen
    Py_ssize_t dcap
    int32_t* offs         # strings: n + 1 offsets
    uint8_t* valid        # validity bitmap (bit set = valid)

cdef int col_rows(Col* c) except -1:
    """Make room for one more row."""
    cdef Py_ssize_t nc
    cdef void* p
    if c.n + 1 < c.rcap:
        return 0
    nc = c.rcap * 2 if c.rcap else 1024
    p = realloc(c.valid, (nc + 7) // 8)
    if p == NULL:
        raise MemoryError()
    c.valid = <uint8_t*>p
    if c.typ == T_STR:
        p = realloc(c.offs, (nc + 1) * sizeof(int32_t))
        if p == NULL:
            raise MemoryError()
        c.offs = <int32_t*>p
        if c.rcap == 0:
            c.offs[0] = 0
    else:
        p = realloc(c.data, nc * (8 if c.typ == T_I64 else 4))
        if p == NULL:
            raise MemoryError()
        c.data = <char*>p
    c.rcap = nc
    return 0

cdef inline int col_bytes(Col* c, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = c.dlen + extra
    cdef Py_ssize_t nc
    cdef void* p
    if need <= c.dcap:
        return 0
    if need > 0x7FFFFFFF:
        raise OverflowError("string column larger than 2 GiB")
    nc = c.dcap * 2 if c.dcap else 16384
    while nc < need:
        nc *= 2
    p = realloc(c.data, nc)
    if p == NULL:
        raise MemoryError()
    c.data = <char*>p
    c.dcap = nc
    return 0

cdef inline void set_valid(Col* c, bint ok) noexcept:
    cdef Py_ssize_t i = c.n
    if ok:
        c.valid[i >> 3] |= <uint8_t>(1 << (i & 7))
    else:
        c.valid[i >> 3] &= <uint8_t>~(1 << (i & 7))
        c.nulls += 1

cdef inline int col_str(Col* c, const char* p, Py_ssize_t ln) except -1:
    col_rows(c)
    col_bytes(c, ln)
    memcpy(c.data + c.dlen, p, ln)
    c.dlen += ln
    set_valid(c, True)
    c.n += 1
    c.offs[c.n] = <int32_t>c.dlen
    return 0

cdef inline int col_null(Col* c) except -1:
    col_rows(c)
    set_valid(c, False)
    if c.typ == T_STR:
        c.offs[c.n + 1] = <int32_t>c.dlen
    elif c.typ == T_I64:
        (<int64_t*>c.data)[c.n] = 0
    else:
        (<uint32_t*>c.data)[c.n] = 0
    c.n += 1
    return 0

cdef inline int col_hex(Col* c, const uint8_t* p, Py_ssize_t ln) except -1:
    cdef Py_ssize_t i
    cdef char* d
    col_rows(c)
    col_bytes(c, 2 * ln)
    d = c.data + c.dlen
    for i in range(ln):
        d[2 * i] = HEX[p[i] >> 4]
        d[2 * i + 1] = HEX[p[i] & 15]
    c.dlen += 2 * ln
    set_valid(c, True)
    c.n += 1
    c.offs[c.n] = <int32_t>c.dlen
    return 0

cdef inline int col_i64(Col* c, int64_t v) except -1:
    col_rows(c)
    (<int64_t*>c.data)[c.n] = v
    set_valid(c, True)
    c.n += 1
    return 0

cdef inline int col_u32(Col* c, uint32_t v) except -1:
    col_rows(c)
    (<uint32_t*>c.data)[c.n] = v
    set_valid(c, True)
    c.n += 1
    return 0

cdef int col_obj(Col* c, object v) except -1:
    """Append a Python str/bytes (UTF-8) or None to a string column."""
    cdef Py_ssize_t ln
    cdef const char* p
    if v is None:
        return col_null(c)
    if isinstance(v, bytes):
        return col_str(c, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v))
    p = PyUnicode_AsUTF8AndSize(v, &ln)
    return col_str(c, p, ln)

cdef object _buf(const char* p, Py_ssize_t n):
    if n == 0:
        return _pa.py_buffer(b"")
    return _pa.py_buffer(PyBytes_FromStringAndSize(p, n))

cdef object col_array(Col* c, object typ):
    valid = None
    if c.nulls:
        valid = _buf(<char*>c.valid, (c.n + 7) // 8)
    if c.typ == T_STR:
        if c.rcap:
            offs = _buf(<char*>c.offs, (c.n + 1) * sizeof(int32_t))
        else:
            offs = _pa.py_buffer(b"\0\0\0\0")
        data = _buf(c.data, c.dlen)
        return _pa.Array.from_buffers(typ, c.n, [valid, offs, data], null_count=c.nulls)
    data = _buf(c.data, c.n * (8 if c.typ == T_I64 else 4))
    return _pa.Array.from_buffers(typ, c.n, [valid, data], null_count=c.nulls)

cdef void col_free(Col* c) noexcept:
    free(c.data)
    free(c.offs)
    free(c.valid)
    c.data = NULL
    c.offs = NULL
    c.valid = NULL

# Column numbers: SPAN_SCHEMA, then EVENT_SCHEMA, then LINK_SCHEMA, in schema order.
cdef enum:
    S_TRACE_ID = 0
    S_SPAN_ID = 1
    S_PARENT = 2
    S_TRACE_STATE = 3
    S_FLAGS = 4
    S_NAME = 5
    S_KIND = 6
    S_START = 7
    S_END = 8
    S_STATUS_CODE = 9
    S_STATUS_MSG = 10
    S_SERVICE = 11
    S_ATTRS = 12
    S_D_ATTRS = 13
    S_D_EVENTS = 14
    S_D_LINKS = 15
    S_EVENT_COUNT = 16
    S_LINK_COUNT = 17
    S_RES_ATTRS = 18
    S_RES_SCHEMA = 19
    S_RES_DROPPED = 20
    S_SCOPE_NAME = 21
    S_SCOPE_VERSION = 22
    S_SCOPE_ATTRS = 23
    S_SCOPE_SCHEMA = 24
    S_SCOPE_DROPPED = 25
    S_NORM0 = 26
    S_INGESTED = 38
    N_SPAN_COLS = 39
    E_TRACE_ID = 39
    E_SPAN_ID = 40
    E_SEQ = 41
    E_TIME = 42
    E_NAME = 43
    E_ATTRS = 44
    E_DROPPED = 45
    N_EVENT_COLS = 7
    L_TRACE_ID = 46
    L_SPAN_ID = 47
    L_SEQ = 48
    L_LTID = 49
    L_LSID = 50
    L_TS = 51
    L_FLAGS = 52
    L_ATTRS = 53
    L_DROPPED = 54
    L_MID = 55
    N_LINK_COLS = 10
    N_COLS = 56

_SCHEMAS = (_SPAN_SCHEMA, _EVENT_SCHEMA, _LINK_SCHEMA)
_FIELDS = [f for sch in _SCHEMAS for f in sch]
_EXPECTED = {
    S_TRACE_ID: "trace_id", S_FLAGS: "flags", S_START: "start_time_unix_nano",
    S_SERVICE: "service_name", S_ATTRS: "attributes", S_LINK_COUNT: "link_count",
    S_SCOPE_DROPPED: "scope_dropped_attributes_count", S_INGESTED: "ingested_at_unix_nano",
    E_TRACE_ID: "trace_id", E_TIME: "time_unix_nano", E_DROPPED: "dropped_attributes_count",
    L_TRACE_ID: "trace_id", L_LTID: "linked_trace_id", L_MID: "msg_message_id",
}
cdef int COL_TYPE[N_COLS]
cdef int NORM_SPAN_COL[N_NORM_COLS]

cdef void _init_columns() except *:
    cdef int i
    if len(_FIELDS) != N_COLS or [len(s) for s in _SCHEMAS] != [N_SPAN_COLS, N_EVENT_COLS,
                                                                   N_LINK_COLS]:
        raise ImportError("collector.decode schemas changed; rebuild _fastdecode")
    for i, name in _EXPECTED.items():
        if _FIELDS[i].name != name:
            raise ImportError("collector.decode schemas changed; rebuild _fastdecode")
    for i in range(N_COLS):
        t = _FIELDS[i].type
        if t == _pa.string():
            COL_TYPE[i] = T_STR
        elif t == _pa.int64():
            COL_TYPE[i] = T_I64
        elif t == _pa.uint32():
            COL_TYPE[i] = T_U32
        else:
            raise ImportError("unsupported column type %s" % t)
    names = [f.name for f in _SPAN_SCHEMA]
    for i in range(N_NORM_COLS):
        NORM_SPAN_COL[i] = names.index(_NORM_COLS[i])
        if not (S_NORM0 <= NORM_SPAN_COL[i] < S_INGESTED):
            raise ImportError("normalised columns moved in SPAN_SCHEMA")
    for i in (S_TRACE_ID, S_SPAN_ID, S_PARENT, S_TRACE_STATE, S_NAME, S_KIND, S_STATUS_CODE,
              S_STATUS_MSG, S_SERVICE, S_ATTRS, S_RES_ATTRS, S_RES_SCHEMA, S_SCOPE_NAME,
              S_SCOPE_VERSION, S_SCOPE_ATTRS, S_SCOPE_SCHEMA, E_TRACE_ID, E_SPAN_ID, E_NAME,
              E_ATTRS, L_TRACE_ID, L_SPAN_ID, L_LTID, L_LSID, L_TS, L_ATTRS, L_MID):
        if COL_TYPE[i] != T_STR:
            raise ImportError("collector.decode schemas changed; rebuild _fastdecode")
    for i in (S_START, S_END, S_INGESTED, E_TIME):
        if COL_TYPE[i] != T_I64:
            raise ImportError("collector.decode schemas changed; rebuild _fastdecode")
    for i in (S_FLAGS, S_D_ATTRS, S_D_EVENTS, S_D_LINKS, S_EVENT_COUNT, S_LINK_COUNT,
              S_RES_DROPPED, S_SCOPE_DROPPED, E_SEQ, E_DROPPED, L_SEQ, L_FLAGS, L_DROPPED):
        if COL_TYPE[i] != T_U32:
            raise ImportError("collector.decode schemas changed; rebuild _fastdecode")

_init_columns()

_KIND_B = [k.encode() for k in _KIND_NAMES]
_STATUS_B = [k.encode() for k in _STATUS_NAMES]
_ALIAS_B = [(k.encode(), v.encode()) for k, v in _OPERATION_ALIASES.items()]


@cython.final
cdef class _Decoder:
    cdef const uint8_t* b
    cdef Py_ssize_t n
    cdef char* out
    cdef Py_ssize_t olen
    cdef Py_ssize_t ocap
    cdef Entries top
    cdef int* htab
    cdef Py_ssize_t hcap
    cdef long long min_t
    cdef long long max_t
    cdef int64_t now
    cdef public long long rejected
    cdef public dict reasons
    cdef Col cols[N_COLS]
    # per-resource / per-scope values repeated on every span
    cdef bytes svc, res_json, res_schema, scope_name, scope_ver, scope_json, scope_schema
    cdef uint32_t res_dropped, scope_dropped
    cdef list kinds_b, status_b
    cdef object aliases
    cdef const char* alias_from[8]
    cdef Py_ssize_t alias_from_len[8]
    cdef const char* alias_to[8]
    cdef Py_ssize_t alias_to_len[8]
    cdef int n_alias

    def __cinit__(self):
        cdef int i
        self.out = NULL
        self.top.data = NULL
        self.top.n = 0
        self.top.cap = 0
        self.htab = NULL
        self.hcap = 0
        memset(self.cols, 0, sizeof(self.cols))
        for i in range(N_COLS):
            self.cols[i].typ = COL_TYPE[i]

    def __dealloc__(self):
        cdef int i
        free(self.out)
        free(self.top.data)
        free(self.htab)
        for i in range(N_COLS):
            col_free(&self.cols[i])

    def __init__(self):
        cdef int i
        self.ocap = 4096
        self.out = <char*>malloc(self.ocap)
        if self.out == NULL:
            raise MemoryError()
        self.reasons = {}
        self.rejected = 0
        self.kinds_b = _KIND_B
        self.status_b = _STATUS_B
        self.aliases = _OPERATION_ALIASES
        self.n_alias = min(len(_ALIAS_B), 8)
        for i in range(self.n_alias):
            k, v = _ALIAS_B[i]
            self.alias_from[i] = <const char*>(<bytes>k)
            self.alias_from_len[i] = len(k)
            self.alias_to[i] = <const char*>(<bytes>v)
            self.alias_to_len[i] = len(v)
        if len(_ALIAS_B) > 8:
            raise ImportError("too many operation aliases")

    # ------------------------------------------------------------ wire primitives

    cdef inline int varint(self, Py_ssize_t* pos, Py_ssize_t end, uint64_t* out) except -1:
        cdef Py_ssize_t p = pos[0]
        if p < end and self.b[p] < 0x80:
            out[0] = self.b[p]
            pos[0] = p + 1
            return 0
        return self.varint_slow(pos, end, out)

    cdef int varint_slow(self, Py_ssize_t* pos, Py_ssize_t end, uint64_t* out) except -1:
        cdef Py_ssize_t p = pos[0]
        cdef uint64_t v = 0
        cdef int shift = 0
        cdef uint8_t c
        while True:
            if p >= end:
                _bad("truncated varint")
            c = self.b[p]
            p += 1
            v |= (<uint64_t>(c & 0x7f)) << shift
            if c < 0x80:
                break
            shift += 7
            if shift >= 70:
                _bad("varint longer than 10 bytes")
        pos[0] = p
        out[0] = v
        return 0

    cdef inline int tag(self, Py_ssize_t* pos, Py_ssize_t end, uint32_t* fn, int* wt) except -1:
        cdef Py_ssize_t p = pos[0]
        cdef uint8_t c
        if p < end:
            c = self.b[p]
            if 8 <= c < 0x80:
                fn[0] = c >> 3
                wt[0] = c & 7
                pos[0] = p + 1
                return 0
        return self.tag_slow(pos, end, fn, wt)

    cdef int tag_slow(self, Py_ssize_t* pos, Py_ssize_t end, uint32_t* fn, int* wt) except -1:
        cdef uint64_t t
        self.varint_slow(pos, end, &t)
        if t > 0xFFFFFFFF or (t >> 3) == 0:
            _bad("invalid field number")
        fn[0] = <uint32_t>(t >> 3)
        wt[0] = <int>(t & 7)
        return 0

    cdef inline int length(self, Py_ssize_t* pos, Py_ssize_t end, Py_ssize_t* start) except -1:
        """Read a length prefix; start = payload start, pos = payload end."""
        cdef uint64_t ln
        self.varint(pos, end, &ln)
        if ln > <uint64_t>(end - pos[0]):
            _bad("length-delimited field runs past its message")
        start[0] = pos[0]
        pos[0] += <Py_ssize_t>ln
        return 0

    cdef inline int skip(self, Py_ssize_t* pos, Py_ssize_t end, int wt) except -1:
        cdef uint64_t v
        cdef Py_ssize_t s
        if wt == 0:
            self.varint(pos, end, &v)
        elif wt == 1:
            if end - pos[0] < 8:
                _bad("truncated fixed64")
            pos[0] += 8
        elif wt == 2:
            self.length(pos, end, &s)
        elif wt == 5:
            if end - pos[0] < 4:
                _bad("truncated fixed32")
            pos[0] += 4
        else:
            _bad("unsupported wire type %d" % wt)
        return 0

    cdef inline int fixed64(self, Py_ssize_t* pos, Py_ssize_t end, uint64_t* out) except -1:
        if end - pos[0] < 8:
            _bad("truncated fixed64")
        out[0] = load64(self.b + pos[0])
        pos[0] += 8
        return 0

    cdef inline int fixed32(self, Py_ssize_t* pos, Py_ssize_t end, uint32_t* out) except -1:
        if end - pos[0] < 4:
            _bad("truncated fixed32")
        out[0] = load32(self.b + pos[0])
        pos[0] += 4
        return 0

    # ------------------------------------------------------------ output buffer

    cdef inline int ensure(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t need = self.olen + extra
        cdef Py_ssize_t nc
        cdef char* nb
        if need > self.ocap:
            nc = self.ocap * 2
            while nc < need:
                nc *= 2
            nb = <char*>realloc(self.out, nc)
            if nb == NULL:
                raise MemoryError()
            self.out = nb
            self.ocap = nc
        return 0

    cdef inline int put(self, const char* s, Py_ssize_t n) except -1:
        self.ensure(n)
        memcpy(self.out + self.olen, s, n)
        self.olen += n
        return 0

    cdef inline int putc(self, char c) except -1:
        self.ensure(1)
        self.out[self.olen] = c
        self.olen += 1
        return 0

    cdef int put_jstr(self, Py_ssize_t off, Py_ssize_t ln) except -1:
        """A JSON string literal of input bytes [off, off+ln) (valid UTF-8 kept as is)."""
        self.ensure(ln * 6 + 2)
        cdef char* o = self.out + self.olen
        cdef const uint8_t* p = self.b + off
        cdef Py_ssize_t i, run = 0
        cdef uint8_t c
        cdef char e
        cdef Py_ssize_t clean = first_escape(p, ln)
        o[0] = b'"'
        o += 1
        for i in range(clean, ln):
            c = p[i]
            e = ESC[c]
            if e == 0:
                continue
            if i > run:
                memcpy(o, p + run, i - run)
                o += i - run
            run = i + 1
            o[0] = b'\\'
            if e == b'u':
                o[1] = b'u'
                o[2] = b'0'
                o[3] = b'0'
                o[4] = HEX[c >> 4]
                o[5] = HEX[c & 15]
                o += 6
            else:
                o[1] = e
                o += 2
        if ln > run:
            memcpy(o, p + run, ln - run)
            o += ln - run
        o[0] = b'"'
        o += 1
        self.olen = o - self.out
        return 0

    cdef int put_int(self, int64_t v) except -1:
        cdef char tmp[24]
        cdef int i = 24
        cdef uint64_t u = <uint64_t>v
        if v < 0:
            u = (~u) + 1
        while True:
            i -= 1
            tmp[i] = <char>(48 + u % 10)
            u //= 10
            if u == 0:
                break
        if v < 0:
            i -= 1
            tmp[i] = b'-'
        return self.put(tmp + i, 24 - i)

    cdef int put_double(self, double d) except -1:
        cdef char* s
        cdef Py_ssize_t n = 0
        if not isfinite(d):
            return self.put(b"null", 4)
        s = PyOS_double_to_string(d, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
        while s[n]:
            n += 1
        try:
            self.put(s, n)
        finally:
            PyMem_Free(s)
        return 0

    cdef int put_b64(self, Py_ssize_t off, Py_ssize_t ln) except -1:
        self.ensure((ln + 2) // 3 * 4 + 2)
        cdef char* o = self.out + self.olen
        cdef const uint8_t* p = self.b + off
        cdef Py_ssize_t i = 0
        cdef uint32_t v
        o[0] = b'"'
        o += 1
        while i + 3 <= ln:
            v = (<uint32_t>p[i] << 16) | (<uint32_t>p[i + 1] << 8) | p[i + 2]
            o[0] = B64[(v >> 18) & 63]
            o[1] = B64[(v >> 12) & 63]
            o[2] = B64[(v >> 6) & 63]
            o[3] = B64[v & 63]
            o += 4
            i += 3
        if ln - i == 1:
            v = <uint32_t>p[i] << 16
            o[0] = B64[(v >> 18) & 63]
            o[1] = B64[(v >> 12) & 63]
            o[2] = b'='
            o[3] = b'='
            o += 4
        elif ln - i == 2:
            v = (<uint32_t>p[i] << 16) | (<uint32_t>p[i + 1] << 8)
            o[0] = B64[(v >> 18) & 63]
            o[1] = B64[(v >> 12) & 63]
            o[2] = B64[(v >> 6) & 63]
            o[3] = b'='
            o += 4
        o[0] = b'"'
        o += 1
        self.olen = o - self.out
        return 0

    # ------------------------------------------------------------ python values

    cdef inline object pystr(self, Py_ssize_t off, Py_ssize_t ln):
        return PyUnicode_DecodeUTF8(<const char*>(self.b + off), ln, NULL)

    cdef object pyvalue(self, AV* av, int depth):
        """The Python value ``collector.decode.any_value`` returns (rare paths only)."""
        cdef AV child
        cdef Py_ssize_t pos, s, koff, klen
        cdef uint32_t fn
        cdef int wt
        cdef int k = av.kind
        cdef double d
        if k == K_NONE:
            return None
        if k == K_STR:
            return self.pystr(av.off, av.end - av.off)
        if k == K_BOOL:
            return av.u != 0
        if k == K_INT:
            return <int64_t>av.u
        if k == K_DOUBLE:
            memcpy(&d, &av.u, 8)
            return d
        if depth >= MAXD:
            return _TRUNC_STR
        if k == K_ARRAY:
            lst = []
            pos = av.off
            while pos < av.end:
                self.tag(&pos, av.end, &fn, &wt)
                if fn == 1 and wt == 2:
                    self.length(&pos, av.end, &s)
                    self.parse_av(s, pos, &child)
                    lst.append(self.pyvalue(&child, depth + 1))
                else:
                    self.skip(&pos, av.end, wt)
            return lst
        if k == K_KVLIST:
            dct = {}
            pos = av.off
            while pos < av.end:
                self.tag(&pos, av.end, &fn, &wt)
                if fn == 1 and wt == 2:
                    self.length(&pos, av.end, &s)
                    self.parse_kv(s, pos, &koff, &klen, &child)
                    dct[self.pystr(koff, klen)] = self.pyvalue(&child, depth + 1)
                else:
                    self.skip(&pos, av.end, wt)
            return dct
        if k == K_BYTES:
            return _base64.b64encode(self.b[av.off:av.end]).decode("ascii")
        return None

    # ------------------------------------------------------------ AnyValue / KeyValue

    cdef int parse_av(self, Py_ssize_t pos, Py_ssize_t end, AV* av) except -1:
        cdef uint32_t fn
        cdef int wt
        cdef Py_ssize_t s
        cdef uint64_t v
        av.kind = K_NONE
        av.off = 0
        av.end = 0
        av.u = 0
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2:
                self.length(&pos, end, &s)
                if fn == K_STR or fn == K_BYTES:
                    av.kind = fn
                    av.off = s
                    av.end = pos
                elif fn == K_ARRAY or fn == K_KVLIST:
                    if av.kind == <int>fn:
                        _bad("repeated AnyValue message member (merge not supported)")
                    av.kind = fn
                    av.off = s
                    av.end = pos
            elif wt == 0:
                self.varint(&pos, end, &v)
                if fn == K_BOOL or fn == K_INT:
                    av.kind = fn
                    av.u = v
            elif wt == 1:
                self.fixed64(&pos, end, &v)
                if fn == K_DOUBLE:
                    av.kind = K_DOUBLE
                    av.u = v
            else:
                self.skip(&pos, end, wt)
        return 0

    cdef int parse_kv(self, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t* koff,
                      Py_ssize_t* klen, AV* av) except -1:
        cdef uint32_t fn
        cdef int wt
        cdef Py_ssize_t s
        cdef int nval = 0
        koff[0] = pos
        klen[0] = 0
        av.kind = K_NONE
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2 and fn == 1:
                self.length(&pos, end, &s)
                koff[0] = s
                klen[0] = pos - s
            elif wt == 2 and fn == 2:
                self.length(&pos, end, &s)
                nval += 1
                if nval > 1:
                    _bad("repeated KeyValue.value (merge not supported)")
                self.parse_av(s, pos, av)
            else:
                self.skip(&pos, end, wt)
        return 0

    cdef int put_value(self, AV* av, int depth) except -1:
        cdef int k = av.kind
        cdef double d
        cdef Py_ssize_t pos, s
        cdef uint32_t fn
        cdef int wt
        cdef bint first
        cdef AV child
        cdef Entries local
        if k == K_STR:
            return self.put_jstr(av.off, av.end - av.off)
        if k == K_INT:
            return self.put_int(<int64_t>av.u)
        if k == K_BOOL:
            if av.u:
                return self.put(b"true", 4)
            return self.put(b"false", 5)
        if k == K_DOUBLE:
            memcpy(&d, &av.u, 8)
            return self.put_double(d)
        if k == K_NONE:
            return self.put(b"null", 4)
        if depth >= MAXD:
            return self.put(TRUNC_JSON, TRUNC_JSON_LEN)
        if k == K_ARRAY:
            self.putc(b'[')
            first = True
            pos = av.off
            while pos < av.end:
                self.tag(&pos, av.end, &fn, &wt)
                if fn == 1 and wt == 2:
                    self.length(&pos, av.end, &s)
                    self.parse_av(s, pos, &child)
                    if not first:
                        self.putc(b',')
                    first = False
                    self.put_value(&child, depth + 1)
                else:
                    self.skip(&pos, av.end, wt)
            return self.putc(b']')
        if k == K_KVLIST:
            local.data = NULL
            local.n = 0
            local.cap = 0
            try:
                self.put_kvs(av.off, av.end, 1, depth + 1, &local)
            finally:
                free(local.data)
            return 0
        if k == K_BYTES:
            return self.put_b64(av.off, av.end - av.off)
        return self.put(b"null", 4)

    cdef int put_kvs(self, Py_ssize_t pos, Py_ssize_t end, uint32_t field, int depth,
                     Entries* es) except -1:
        """Write the repeated KeyValue ``field`` of message [pos, end) as a JSON object.

        Entries (in wire order) are left in ``es``; duplicate keys are folded as a Python
        dict does: the first occurrence's position, the last occurrence's value."""
        cdef uint32_t fn
        cdef int wt
        cdef Py_ssize_t s
        cdef Py_ssize_t obj_start = self.olen
        cdef Entry* e
        es.n = 0
        self.putc(b'{')
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if fn == field and wt == 2:
                self.length(&pos, end, &s)
                entries_push(es)
                e = &es.data[es.n - 1]
                self.parse_kv(s, pos, &e.key_off, &e.key_len, &e.av)
                if es.n > 1:
                    self.putc(b',')
                e.txt_s = self.olen
                self.put_jstr(e.key_off, e.key_len)
                self.putc(b':')
                self.put_value(&e.av, depth)
                # es.data may have moved? no: put_value recursion uses its own Entries.
                e.txt_e = self.olen
            else:
                self.skip(&pos, end, wt)
        self.putc(b'}')
        if es.n > 1:
            self.dedupe(es, obj_start)
        return 0

    cdef int dedupe(self, Entries* es, Py_ssize_t obj_start) except -1:
        cdef Py_ssize_t n = es.n, i, j, h, mask, size
        cdef Entry* d = es.data
        cdef bint dup = False
        cdef uint64_t hv
        cdef const uint8_t* kp
        cdef char* tmp
        cdef Py_ssize_t tlen, pl
        cdef bint first
        if n <= 24:
            for i in range(n):
                d[i].first = i
                for j in range(i):
                    if d[j].key_len == d[i].key_len and memcmp(
                            self.b + d[j].key_off, self.b + d[i].key_off, d[i].key_len) == 0:
                        d[i].first = d[j].first
                        dup = True
                        break
        else:
            size = 64
            while size < 2 * n:
                size *= 2
            if size > self.hcap:
                free(self.htab)
                self.htab = <int*>malloc(size * sizeof(int))
                if self.htab == NULL:
                    self.hcap = 0
                    raise MemoryError()
                self.hcap = size
            mask = size - 1
            for h in range(size):
                self.htab[h] = -1
            for i in range(n):
                hv = 1469598103934665603ULL
                kp = self.b + d[i].key_off
                for j in range(d[i].key_len):
                    hv = (hv ^ kp[j]) * 1099511628211ULL
                h = <Py_ssize_t>(hv & <uint64_t>mask)
                while True:
                    j = self.htab[h]
                    if j < 0:
                        self.htab[h] = <int>i
                        d[i].first = i
                        break
                    if d[j].key_len == d[i].key_len and memcmp(
                            self.b + d[j].key_off, kp, d[i].key_len) == 0:
                        d[i].first = j
                        dup = True
                        break
                    h = (h + 1) & mask
        if not dup:
            return 0
        for i in range(n):
            d[d[i].first].last = i
        tlen = self.olen - obj_start
        tmp = <char*>malloc(tlen)
        if tmp == NULL:
            raise MemoryError()
        memcpy(tmp, self.out + obj_start, tlen)
        self.olen = obj_start
        self.out[self.olen] = b'{'
        self.olen += 1
        first = True
        for i in range(n):
            if d[i].first != i:
                continue
            if not first:
                self.out[self.olen] = b','
                self.olen += 1
            first = False
            j = d[i].last
            pl = d[j].txt_e - d[j].txt_s
            memcpy(self.out + self.olen, tmp + (d[j].txt_s - obj_start), pl)
            self.olen += pl
        self.out[self.olen] = b'}'
        self.olen += 1
        free(tmp)
        return 0

    cdef inline bint key_is(self, Entry* e, const char* key, Py_ssize_t ln) noexcept:
        return e.key_len == ln and memcmp(self.b + e.key_off, key, ln) == 0

    # ------------------------------------------------------------ messages

    cdef int attrs(self, Py_ssize_t pos, Py_ssize_t end, uint32_t field) except -1:
        """JSON of a top-level attribute set into self.out; entries in self.top.
        Returns 1, or 0 when the set is empty (the column value is then null)."""
        self.olen = 0
        self.put_kvs(pos, end, field, 0, &self.top)
        return 1 if self.top.n else 0

    cdef int attrs_col(self, Col* c, Py_ssize_t pos, Py_ssize_t end, uint32_t field) except -1:
        """Attribute JSON written straight into the string column's data buffer."""
        cdef char* saved = self.out
        cdef Py_ssize_t saved_cap = self.ocap, start
        col_rows(c)
        if c.dcap == 0:
            col_bytes(c, 1)
        self.out = c.data
        self.ocap = c.dcap
        self.olen = start = c.dlen
        try:
            self.put_kvs(pos, end, field, 0, &self.top)
        finally:
            c.data = self.out
            c.dcap = self.ocap
            self.out = saved
            self.ocap = saved_cap
        if self.top.n == 0:
            return col_null(c)
        if self.olen > 0x7FFFFFFF:
            raise OverflowError("string column larger than 2 GiB")
        c.dlen = self.olen
        set_valid(c, True)
        c.n += 1
        c.offs[c.n] = <int32_t>c.dlen
        return 0

    cdef object attrs_bytes(self, Py_ssize_t pos, Py_ssize_t end, uint32_t field):
        if self.attrs(pos, end, field):
            return PyBytes_FromStringAndSize(self.out, self.olen)
        return None

    cdef inline object opt_bytes(self, Py_ssize_t off, Py_ssize_t ln):
        return PyBytes_FromStringAndSize(<const char*>(self.b + off), ln) if ln else None

    cdef int request(self) except -1:
        cdef Py_ssize_t pos = 0, s
        cdef uint32_t fn
        cdef int wt
        while pos < self.n:
            self.tag(&pos, self.n, &fn, &wt)
            if fn == 1 and wt == 2:
                self.length(&pos, self.n, &s)
                self.resource_spans(s, pos)
            else:
                self.skip(&pos, self.n, wt)
        return 0

    cdef int envelope(self, Py_ssize_t start, Py_ssize_t end, str repeated, Py_ssize_t* ms,
                      Py_ssize_t* me, Py_ssize_t* sch_off, Py_ssize_t* sch_len) except -1:
        """First pass over a ResourceSpans or ScopeSpans: where its field 1 (the resource or
        scope) and field 3 (schema_url) are. A repeated field 1 is declined (``repeated``
        says which), as protobuf would merge the two."""
        cdef Py_ssize_t pos = start, s
        cdef uint32_t fn
        cdef int wt, n = 0
        ms[0] = -1
        me[0] = -1
        sch_off[0] = 0
        sch_len[0] = 0
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2 and fn == 1:
                self.length(&pos, end, &s)
                n += 1
                if n > 1:
                    _bad(repeated)
                ms[0] = s
                me[0] = pos
            elif wt == 2 and fn == 3:
                self.length(&pos, end, &s)
                sch_off[0] = s
                sch_len[0] = pos - s
            else:
                self.skip(&pos, end, wt)
        return 0

    cdef int resource_spans(self, Py_ssize_t start, Py_ssize_t end) except -1:
        cdef Py_ssize_t pos, s, rs, re, sch_off, sch_len
        cdef uint32_t fn
        cdef int wt
        cdef uint64_t v
        cdef uint32_t res_dropped = 0
        cdef Py_ssize_t i
        cdef Entry* e
        self.envelope(start, end, "repeated ResourceSpans.resource (merge not supported)",
                      &rs, &re, &sch_off, &sch_len)
        res_json = None
        service = None
        if rs >= 0:
            pos = rs
            while pos < re:
                self.tag(&pos, re, &fn, &wt)
                if wt == 0 and fn == 2:
                    self.varint(&pos, re, &v)
                    res_dropped = <uint32_t>v
                else:
                    self.skip(&pos, re, wt)
            res_json = self.attrs_bytes(rs, re, 1)
            for i in range(self.top.n - 1, -1, -1):
                e = &self.top.data[i]
                if self.key_is(e, b"service.name", 12):
                    if (e.av.kind == K_STR or e.av.kind == K_BYTES) and e.av.end > e.av.off:
                        service = self.pyvalue(&e.av, 0).encode()
                    break
            if service is None or service.startswith(UNKNOWN_SERVICE_B):
                # the SDK did not know its name: the workload's (collector.conventions.service_name)
                service = _service_name(_orjson.loads(res_json) if res_json else {}).encode()
        pos = start
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2 and fn == 2:
                self.length(&pos, end, &s)
                # set per scope: a scope_spans resets them below
                self.svc = service if service is not None else UNKNOWN_SERVICE_B
                self.res_json = res_json
                self.res_schema = self.opt_bytes(sch_off, sch_len)
                self.res_dropped = res_dropped
                self.scope_spans(s, pos)
            else:
                self.skip(&pos, end, wt)
        return 0

    cdef int scope_spans(self, Py_ssize_t start, Py_ssize_t end) except -1:
        cdef Py_ssize_t pos, s, ss, se, sch_off, sch_len
        cdef Py_ssize_t name_off = 0, name_len = 0, ver_off = 0, ver_len = 0
        cdef uint32_t fn
        cdef int wt
        cdef uint64_t v
        cdef uint32_t sc_dropped = 0
        self.envelope(start, end, "repeated ScopeSpans.scope (merge not supported)",
                      &ss, &se, &sch_off, &sch_len)
        scope_json = None
        if ss >= 0:
            pos = ss
            while pos < se:
                self.tag(&pos, se, &fn, &wt)
                if wt == 2 and fn == 1:
                    self.length(&pos, se, &s)
                    name_off = s
                    name_len = pos - s
                elif wt == 2 and fn == 2:
                    self.length(&pos, se, &s)
                    ver_off = s
                    ver_len = pos - s
                elif wt == 0 and fn == 4:
                    self.varint(&pos, se, &v)
                    sc_dropped = <uint32_t>v
                else:
                    self.skip(&pos, se, wt)
            scope_json = self.attrs_bytes(ss, se, 3)
        self.scope_name = self.opt_bytes(name_off, name_len)
        self.scope_ver = self.opt_bytes(ver_off, ver_len)
        self.scope_json = scope_json
        self.scope_schema = self.opt_bytes(sch_off, sch_len)
        self.scope_dropped = sc_dropped
        pos = start
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2 and fn == 2:
                self.length(&pos, end, &s)
                self.span(s, pos)
            else:
                self.skip(&pos, end, wt)
        return 0

    cdef int reject(self, object why) except -1:
        self.rejected += 1
        self.reasons[why] = self.reasons.get(why, 0) + 1
        return 0

    cdef int span(self, Py_ssize_t start, Py_ssize_t end) except -1:
        cdef Py_ssize_t pos = start, s
        cdef Py_ssize_t tid_off = 0, tid_len = 0, sid_off = 0, sid_len = 0
        cdef Py_ssize_t pid_off = 0, pid_len = 0, ts_off = 0, ts_len = 0
        cdef Py_ssize_t name_off = 0, name_len = 0, msg_off = 0, msg_len = 0
        cdef Py_ssize_t p2, se
        cdef uint32_t fn, fn2
        cdef int wt, wt2
        cdef uint64_t v
        cdef uint64_t start_t = 0, end_t = 0
        cdef int32_t kind = 0, code = 0
        cdef uint32_t flags = 0, d_attrs = 0, d_events = 0, d_links = 0
        cdef Entry* e
        cdef int col, i, j, L, ki
        cdef int best_prio[N_NORM_COLS]
        cdef Py_ssize_t best_ent[N_NORM_COLS]
        cdef AV* dav
        cdef Py_ssize_t rpc_service = -1, rpc_method = -1, url_full = -1, http_url = -1
        cdef Py_ssize_t msg_url = -1, url_at = -1, g_url = -1, g_len = 0
        cdef const uint8_t* g_ptr = NULL
        cdef bint grid = False
        cdef bint arq = False
        cdef bint nameko = False
        cdef Col* C = self.cols
        cdef Py_ssize_t field_start
        cdef Py_ssize_t a_lo = end, a_hi = end, e_lo = end, e_hi = end, l_lo = end, l_hi = end
        while pos < end:
            field_start = pos
            self.tag(&pos, end, &fn, &wt)
            if wt == 2:
                self.length(&pos, end, &s)
                if fn == 9:
                    if a_lo == end:
                        a_lo = field_start
                    a_hi = pos
                elif fn == 11:
                    if e_lo == end:
                        e_lo = field_start
                    e_hi = pos
                elif fn == 13:
                    if l_lo == end:
                        l_lo = field_start
                    l_hi = pos
                elif fn == 1:
                    tid_off = s; tid_len = pos - s
                elif fn == 2:
                    sid_off = s; sid_len = pos - s
                elif fn == 3:
                    ts_off = s; ts_len = pos - s
                elif fn == 4:
                    pid_off = s; pid_len = pos - s
                elif fn == 5:
                    name_off = s; name_len = pos - s
                elif fn == 15:
                    p2 = s
                    while p2 < pos:
                        self.tag(&p2, pos, &fn2, &wt2)
                        if wt2 == 2 and fn2 == 2:
                            self.length(&p2, pos, &se)
                            msg_off = se
                            msg_len = p2 - se
                        elif wt2 == 0 and fn2 == 3:
                            self.varint(&p2, pos, &v)
                            code = <int32_t>v
                        else:
                            self.skip(&p2, pos, wt2)
            elif wt == 0:
                self.varint(&pos, end, &v)
                if fn == 6:
                    kind = <int32_t>v
                elif fn == 10:
                    d_attrs = <uint32_t>v
                elif fn == 12:
                    d_events = <uint32_t>v
                elif fn == 14:
                    d_links = <uint32_t>v
            elif wt == 1:
                self.fixed64(&pos, end, &v)
                if fn == 7:
                    start_t = v
                elif fn == 8:
                    end_t = v
            elif wt == 5 and fn == 16:
                self.fixed32(&pos, end, &flags)
            else:
                self.skip(&pos, end, wt)

        if tid_len != 16 or all_zero(self.b + tid_off, 16):
            return self.reject(R_TRACE)
        if sid_len != 8 or all_zero(self.b + sid_off, 8):
            return self.reject(R_SPAN)
        if pid_len != 0 and pid_len != 8:
            return self.reject(R_PARENT)
        if (start_t > <uint64_t>0x7FFFFFFFFFFFFFFF or <long long>start_t < self.min_t
                or <long long>start_t > self.max_t):
            return self.reject(R_START)
        if end_t < start_t:
            return self.reject(R_END)
        if end_t > <uint64_t>0x7FFFFFFFFFFFFFFF:
            return self.reject(R_END_RANGE)

        col_hex(&C[S_TRACE_ID], self.b + tid_off, 16)
        col_hex(&C[S_SPAN_ID], self.b + sid_off, 8)
        # (a span naming itself as its parent has none: collector.decode)
        if pid_len and not all_zero(self.b + pid_off, 8) \
                and memcmp(self.b + pid_off, self.b + sid_off, 8) != 0:
            col_hex(&C[S_PARENT], self.b + pid_off, 8)
        else:
            col_null(&C[S_PARENT])
        if ts_len:
            col_str(&C[S_TRACE_STATE], <const char*>(self.b + ts_off), ts_len)
        else:
            col_null(&C[S_TRACE_STATE])
        col_u32(&C[S_FLAGS], flags)
        col_str(&C[S_NAME], <const char*>(self.b + name_off), name_len)
        col_obj(&C[S_KIND], <bytes>self.kinds_b[kind] if 0 <= kind < 6 else b"UNSPECIFIED")
        col_i64(&C[S_START], <int64_t>start_t)
        col_i64(&C[S_END], <int64_t>end_t)
        col_obj(&C[S_STATUS_CODE], <bytes>self.status_b[code] if 0 <= code < 3 else b"UNSET")
        if msg_len:
            col_str(&C[S_STATUS_MSG], <const char*>(self.b + msg_off), msg_len)
        else:
            col_null(&C[S_STATUS_MSG])
        col_obj(&C[S_SERVICE], self.svc)
        self.attrs_col(&C[S_ATTRS], a_lo, a_hi, 9)
        col_u32(&C[S_D_ATTRS], d_attrs)
        col_u32(&C[S_D_EVENTS], d_events)
        col_u32(&C[S_D_LINKS], d_links)
        col_obj(&C[S_RES_ATTRS], self.res_json)
        col_obj(&C[S_RES_SCHEMA], self.res_schema)
        col_u32(&C[S_RES_DROPPED], self.res_dropped)
        col_obj(&C[S_SCOPE_NAME], self.scope_name)
        col_obj(&C[S_SCOPE_VERSION], self.scope_ver)
        col_obj(&C[S_SCOPE_ATTRS], self.scope_json)
        col_obj(&C[S_SCOPE_SCHEMA], self.scope_schema)
        col_u32(&C[S_SCOPE_DROPPED], self.scope_dropped)
        col_i64(&C[S_INGESTED], self.now)

        # normalised columns: first occurrence of the best-priority key with a value
        for col in range(N_NORM_COLS):
            best_prio[col] = 99
            best_ent[col] = -1
        for i in range(self.top.n):
            e = &self.top.data[i]
            L = <int>e.key_len
            if L == 11 and e.av.kind == K_STR and e.av.end - e.av.off <= AWS_SERVICE_MAXLEN \
                    and (memcmp(self.b + e.key_off, b"rpc.service", 11) == 0
                         or memcmp(self.b + e.key_off, b"aws.service", 11) == 0):
                # (SQS, SNS, Kinesis are the only ones of interest: short. aws.service: an
                # X-Ray subsegment, converted by the Collector's awsxrayreceiver)
                rpc_service = i
            elif L == 10 and memcmp(self.b + e.key_off, b"rpc.method", 10) == 0:
                rpc_method = i
            elif L == 13 and memcmp(self.b + e.key_off, b"aws.operation", 13) == 0:
                rpc_method = i
            elif L == 8:  # (a span's URL: collector.conventions.URL_KEYS)
                if memcmp(self.b + e.key_off, b"url.full", 8) == 0:
                    url_full = i
                elif memcmp(self.b + e.key_off, b"http.url", 8) == 0:
                    http_url = i
            elif L == 13 and memcmp(self.b + e.key_off, b"messaging.url", 13) == 0:
                msg_url = i
            elif L == 12 and memcmp(self.b + e.key_off, b"arq.job.name", 12) == 0:
                arq = True  # (an arq job's enqueue or run: collector.untagged.arq_job)
            elif (L == 18 and memcmp(self.b + e.key_off, b"nameko.amqp.queues", 18) == 0) \
                    or (L == 22
                        and memcmp(self.b + e.key_off, b"nameko.events.exchange", 22) == 0) \
                    or (L == 25
                        and memcmp(self.b + e.key_off, b"nameko.messaging.exchange", 25) == 0):
                nameko = True  # (collector.untagged.nameko_message decides)
            if L > MAX_KEY_LEN or bucket_n[L] == 0 or e.av.kind == K_NONE:
                continue
            for j in range(bucket_n[L]):
                ki = bucket[L][j]
                if memcmp(self.b + e.key_off, norm_key[ki], L) == 0:
                    if norm_skip_empty[ki] and (e.av.kind == K_STR or e.av.kind == K_BYTES) \
                            and e.av.end == e.av.off:  # ('' as text or as bytes)
                        break
                    col = norm_col[ki]
                    if norm_prio[ki] < best_prio[col]:
                        best_prio[col] = norm_prio[ki]
                        best_ent[col] = i
                    break
        fallback = None
        fb_op = None
        if best_ent[COL_OPTYPE] < 0 and best_ent[COL_SYSTEM] < 0 and best_ent[COL_DEST] < 0:
            # (an Azure Event Grid SDK's publish or its request, a Dramatiq instrumentor's,
            # a Taskiq middleware's, a Remoulade, arq or nameko instrumentation's span:
            # messaging_fallbacks)
            g_url = url_full if url_full >= 0 else http_url
            if g_url >= 0 and self.top.data[g_url].av.kind == K_STR:
                g_ptr = <const uint8_t*>(self.b + self.top.data[g_url].av.off)
                g_len = self.top.data[g_url].av.end - self.top.data[g_url].av.off
            grid = eventgrid_hint(<const uint8_t*>(self.b + name_off), name_len, g_ptr, g_len) \
                or untagged_name_hint(<const uint8_t*>(self.b + name_off), name_len) \
                or arq or nameko
        if best_ent[COL_OPTYPE] < 0 and (best_ent[COL_SYSTEM] >= 0 or best_ent[COL_DEST] >= 0
                                         or rpc_service >= 0 or grid):
            # a messaging span naming no operation, or an AWS SDK call
            # (collector.conventions.messaging_fallbacks). Only an AWS SDK call's rpc.* keys
            # (or an Event Grid publish's URL) make the attributes matter (else the span's
            # name decides): the dict is built then only.
            if rpc_method >= 0 or rpc_service >= 0 or grid:
                attrs = {}
                for i in range(self.top.n):
                    e = &self.top.data[i]
                    attrs[PyUnicode_DecodeUTF8(<const char*>(self.b + e.key_off), e.key_len,
                                               NULL)] = self.pyvalue(&e.av, 0)
                fallback = _messaging_fallbacks(
                    attrs, PyUnicode_DecodeUTF8(<const char*>(self.b + name_off), name_len,
                                                NULL),
                    self.pyvalue(&self.top.data[best_ent[COL_SYSTEM]].av, 0)
                    if best_ent[COL_SYSTEM] >= 0 else None, best_ent[COL_DEST] >= 0)
            elif best_ent[COL_SYSTEM] >= 0 and self.is_str(
                    &self.top.data[best_ent[COL_SYSTEM]].av, b"pubsub", 6):
                # Dapr's sidecar: its span names are API paths (operation_from_name)
                fb_op = _operation_from_name(PyUnicode_DecodeUTF8(
                    <const char*>(self.b + name_off), name_len, NULL), "pubsub")
            else:  # (what messaging_fallbacks gives without rpc.* keys: the name's operation)
                fb_op = name_operation(self.b + name_off, name_len)
        # (the operation the rules below read: given, else the fallbacks', as the reference
        # decoder has it once messaging_fallbacks filled it in)
        if fb_op is None and fallback:
            fb_op = fallback.get("msg_operation_type")
        implied = None
        if best_ent[COL_SYSTEM] < 0 and fallback and "msg_system" in fallback:
            # (a system the fallbacks gave is the span's for the rules below, as in the
            # reference decoder, where they run first: no other is implied then)
            implied = fallback["msg_system"]
        elif best_ent[COL_SYSTEM] < 0 and best_ent[COL_DEST] >= 0:
            # Brave's tags, Spring AMQP's keys: the system is implied (collector.conventions)
            implied = _SYSTEM_BY_DEST_PRIO.get(best_prio[COL_DEST]) or self.system_by_key()
        dest = None
        if best_ent[COL_DEST] >= 0:
            dav = &self.top.data[best_ent[COL_DEST]].av
            if dav.kind == K_STR and memchr(self.b + dav.off, 58, dav.end - dav.off) != NULL:
                # a name with a ':' may be RabbitMQ's composed one (exchange:key[:queue])
                dest = self.rabbitmq_destination(kind, best_ent, implied, fb_op)
            elif dav.kind == K_STR and (dav.end == dav.off or self.is_str(dav, b"<default>", 9)
                                        or self.is_str(dav, b"amq.default", 11)) \
                    and self.system_is(best_ent, implied, b"rabbitmq"):
                # the default exchange: a delivery's queue, or a reply queue, named only in
                # the routing key
                dest = _rabbitmq_default_exchange_destination(
                    self.pyvalue(dav, 0), self.first_value(_RABBITMQ_ROUTING_KEYS_BYTES), kind,
                    self.operation(best_ent, fb_op))
        mid = None
        if best_ent[COL_MSGID] >= 0 and self.is_offset(&self.top.data[best_ent[COL_MSGID]].av) \
                and self.system_is(best_ent, implied, b"kafka"):
            # a Kafka record's offset as its id: qualified by its partition
            mid = _kafka_message_id(self.pyvalue(&self.top.data[best_ent[COL_MSGID]].av, 0),
                                    self.first_value(_KAFKA_PARTITION_KEYS_BYTES))
        elif best_ent[COL_MSGID] < 0 and self.system_is(best_ent, implied, b"kafka"):
            # no id but the record's offset (KAFKA_OFFSET_KEYS): <partition>/<offset>
            at = self.find_key(_KAFKA_OFFSET_KEY_0)
            if at < 0:
                at = self.find_key(_KAFKA_OFFSET_KEY_1)
            if at >= 0:
                mid = _kafka_message_id(self.pyvalue(&self.top.data[at].av, 0),
                                        self.first_value(_KAFKA_PARTITION_KEYS_BYTES))
        if best_ent[COL_SERVER] < 0:
            # a CLIENT or messaging span naming its server only in a URL: URL_KEYS, or
            # MESSAGING_URL_KEYS (collector.conventions)
            if kind == 3:
                url_at = url_full if url_full >= 0 else (http_url if http_url >= 0
                                                         else msg_url)
            elif best_ent[COL_SYSTEM] >= 0 or best_ent[COL_DEST] >= 0 \
                    or implied is not None or (fallback and (
                        "msg_system" in fallback or "msg_destination" in fallback)):
                url_at = url_full if url_full >= 0 else msg_url
        for col in range(N_NORM_COLS):
            if col == COL_DEST and dest is not None:
                col_obj(&C[NORM_SPAN_COL[col]], dest)
            elif col == COL_MSGID and mid is not None:
                col_obj(&C[NORM_SPAN_COL[col]], mid)
            elif best_ent[col] >= 0:
                self.norm_value(col, &C[NORM_SPAN_COL[col]], &self.top.data[best_ent[col]].av)
            elif col == COL_OPTYPE and fb_op is not None:
                col_obj(&C[NORM_SPAN_COL[col]], fb_op)
            elif col == COL_SERVER and url_at >= 0:
                host = _host_of(self.pyvalue(&self.top.data[url_at].av, 0))
                if host is None:
                    col_null(&C[NORM_SPAN_COL[col]])
                else:
                    col_obj(&C[NORM_SPAN_COL[col]], host)
            elif fallback and _NORM_COLS[col] in fallback:
                col_obj(&C[NORM_SPAN_COL[col]], fallback[_NORM_COLS[col]])
            elif col == COL_SYSTEM and implied is not None:
                col_obj(&C[NORM_SPAN_COL[col]], implied)
            else:
                col_null(&C[NORM_SPAN_COL[col]])

        col_u32(&C[S_EVENT_COUNT], self.events(e_lo, e_hi, tid_off, sid_off))
        col_u32(&C[S_LINK_COUNT], self.links(l_lo, l_hi, tid_off, sid_off))
        return 0

    cdef object rabbitmq_destination(self, int kind, Py_ssize_t* best_ent, object implied,
                                     object fb_op):
        """The exchange or queue a RabbitMQ span's composed destination name means
        (collector.conventions.rabbitmq_destination), or None."""
        if not self.system_is(best_ent, implied, b"rabbitmq"):
            return None
        routing_key = self.first_value(_RABBITMQ_ROUTING_KEYS_BYTES)
        return _rabbitmq_destination(self.pyvalue(&self.top.data[best_ent[COL_DEST]].av, 0),
                                     routing_key, kind, self.operation(best_ent, fb_op))

    cdef object operation(self, Py_ssize_t* best_ent, object fb_op):
        """The span's messaging operation as given, else the one its name gives."""
        return self.pyvalue(&self.top.data[best_ent[COL_OPTYPE]].av, 0) \
            if best_ent[COL_OPTYPE] >= 0 else fb_op

    cdef bint is_offset(self, AV* av):
        """Whether ``av`` may be a record offset (an integer, a string of ASCII digits, or
        one ending in '.<digits>': Python's '<topic>.<partition>.<offset>'): decided here,
        so ids of any other form cost nothing more (kafka_message_id decides the rest)."""
        cdef Py_ssize_t i
        if av.kind == K_INT:
            return True
        if av.kind != K_STR or av.end == av.off:
            return False
        for i in range(av.end - 1, av.off - 1, -1):
            if not (48 <= self.b[i] <= 57):
                return self.b[i] == 46 and i < av.end - 1
        return True

    cdef bint system_is(self, Py_ssize_t* best_ent, object implied, bytes name):
        """Whether the span's messaging system (given, else implied) is ``name`` (ASCII,
        lowercase), in any ASCII case, compared in place: it is asked of every messaging
        span without a message id (the Kafka-offset rule)."""
        cdef AV* av
        cdef Py_ssize_t i, n = len(name)
        cdef const char* want = name
        cdef uint8_t ch
        if best_ent[COL_SYSTEM] < 0:
            return isinstance(implied, str) and implied.lower() == name.decode()
        av = &self.top.data[best_ent[COL_SYSTEM]].av
        if av.kind != K_STR or av.end - av.off != n:
            return False
        for i in range(n):
            ch = self.b[av.off + i]
            if 65 <= ch <= 90:
                ch += 32
            if ch != <uint8_t>want[i]:
                return False
        return True

    cdef Py_ssize_t find_key(self, bytes key):
        """The entry of attribute ``key`` in this span, or -1 (a scan: asked only of the few
        spans a rule needs one more key of)."""
        cdef Py_ssize_t i
        cdef Entry* e
        for i in range(self.top.n):
            e = &self.top.data[i]
            if e.key_len == len(key) and memcmp(self.b + e.key_off, <const char*>key,
                                                e.key_len) == 0:
                return i
        return -1

    cdef object first_value(self, list keys):
        """The value of the first of ``keys`` (bytes) this span has, or None."""
        cdef Py_ssize_t i
        for key in keys:
            i = self.find_key(key)
            if i >= 0:
                return self.pyvalue(&self.top.data[i].av, 0)
        return None

    cdef object system_by_key(self):
        """The system a key of this span implies (``SYSTEM_BY_KEY``, first in its order),
        or None. Only asked of a span naming a destination and no system: rare."""
        for key, system in _SYSTEM_BY_KEY_BYTES:
            if self.find_key(key) >= 0:
                return system
        # (az.namespace, peer.service, Camel's component: conventions.SYSTEM_BY_VALUE)
        return _system_by_value(lambda key: self.first_value(_SYSTEM_BY_VALUE_KEYS[key]))

    cdef inline bint is_str(self, AV* av, const char* text, Py_ssize_t ln):
        """Whether ``av`` is the string ``text`` (``ln`` bytes)."""
        return av.kind == K_STR and av.end - av.off == ln \
            and memcmp(self.b + av.off, text, ln) == 0

    cdef object norm_obj(self, AV* av):
        """A normalised column's value as a Python object: a name sent as bytes (FastStream's
        Redis channels) is its text (collector.decode.bytes_text: the same rule)."""
        if av.kind == K_BYTES:
            return _bytes_text(self.b[av.off:av.end])
        return self.pyvalue(av, 0)

    cdef int norm_value(self, int col, Col* c, AV* av) except -1:
        """One normalised column value, converted as collector.decode._append_normalised."""
        cdef int k = av.kind
        cdef Py_ssize_t ln, i
        cdef char low[32]
        cdef uint8_t ch
        cdef bint ascii
        if col == COL_BATCH:
            if k == K_INT:
                return col_i64(c, <int64_t>av.u)
            v = self.norm_obj(av)
            if not (isinstance(v, int) and not isinstance(v, bool)):
                try:
                    v = int(v)
                except (TypeError, ValueError, OverflowError):
                    v = None
            if v is None or not (-0x8000000000000000 <= v <= 0x7FFFFFFFFFFFFFFF):
                return col_null(c)
            return col_i64(c, <int64_t>v)
        if col == COL_DKIND and k == K_BOOL:
            # messaging.destination.temporary / .anonymous (collector.decode: the same rule)
            return col_str(c, b"temporary", 9) if av.u else col_null(c)
        if col == COL_OPTYPE:
            ln = av.end - av.off
            if k == K_STR and ln <= 32:
                ascii = True
                for i in range(ln):
                    ch = self.b[av.off + i]
                    if ch >= 0x80:
                        ascii = False
                        break
                    low[i] = <char>(ch + 32 if 65 <= ch <= 90 else ch)
                if ascii:
                    for i in range(self.n_alias):
                        if ln == self.alias_from_len[i] and memcmp(low, self.alias_from[i], ln) == 0:
                            return col_str(c, self.alias_to[i], self.alias_to_len[i])
                    return col_str(c, low, ln)
            s = str(self.norm_obj(av)).lower()
            return col_obj(c, self.aliases.get(s, s))
        if k == K_STR:
            return col_str(c, <const char*>(self.b + av.off), av.end - av.off)
        v = self.norm_obj(av)
        if isinstance(v, (dict, list)):
            return col_obj(c, _orjson.dumps(v))
        return col_obj(c, v if isinstance(v, str) else str(v))

    cdef int events(self, Py_ssize_t start, Py_ssize_t end, Py_ssize_t tid_off,
                    Py_ssize_t sid_off) except -1:
        cdef Py_ssize_t pos = start, s, p2, se
        cdef uint32_t fn, fn2
        cdef int wt, wt2
        cdef uint64_t v, t
        cdef uint32_t dropped
        cdef Py_ssize_t name_off, name_len
        cdef int n = 0
        cdef Col* C = self.cols
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if not (fn == 11 and wt == 2):
                self.skip(&pos, end, wt)
                continue
            self.length(&pos, end, &s)
            t = 0
            dropped = 0
            name_off = 0
            name_len = 0
            p2 = s
            while p2 < pos:
                self.tag(&p2, pos, &fn2, &wt2)
                if wt2 == 1 and fn2 == 1:
                    self.fixed64(&p2, pos, &t)
                elif wt2 == 2 and fn2 == 2:
                    self.length(&p2, pos, &se)
                    name_off = se
                    name_len = p2 - se
                elif wt2 == 0 and fn2 == 4:
                    self.varint(&p2, pos, &v)
                    dropped = <uint32_t>v
                else:
                    self.skip(&p2, pos, wt2)
            col_hex(&C[E_TRACE_ID], self.b + tid_off, 16)
            col_hex(&C[E_SPAN_ID], self.b + sid_off, 8)
            col_u32(&C[E_SEQ], n)
            if t > <uint64_t>0x7FFFFFFFFFFFFFFF:
                col_null(&C[E_TIME])  # out of int64 range: unknown, like the reference
            else:
                col_i64(&C[E_TIME], <int64_t>t)
            col_str(&C[E_NAME], <const char*>(self.b + name_off), name_len)
            self.attrs_col(&C[E_ATTRS], s, pos, 3)
            col_u32(&C[E_DROPPED], dropped)
            n += 1
        return n

    cdef int links(self, Py_ssize_t start, Py_ssize_t end, Py_ssize_t tid_off0,
                   Py_ssize_t sid_off0) except -1:
        cdef Py_ssize_t pos = start, s, p2, se
        cdef uint32_t fn, fn2
        cdef int wt, wt2
        cdef uint64_t v
        cdef uint32_t dropped, flags
        cdef Py_ssize_t tid_off, tid_len, sid_off, sid_len, ts_off, ts_len, i
        cdef Py_ssize_t new_i, old_i
        cdef Entry* e
        cdef int n = 0
        cdef Col* C = self.cols
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if not (fn == 13 and wt == 2):
                self.skip(&pos, end, wt)
                continue
            self.length(&pos, end, &s)
            dropped = 0
            flags = 0
            tid_off = tid_len = sid_off = sid_len = ts_off = ts_len = 0
            p2 = s
            while p2 < pos:
                self.tag(&p2, pos, &fn2, &wt2)
                if wt2 == 2 and fn2 <= 3:
                    self.length(&p2, pos, &se)
                    if fn2 == 1:
                        tid_off = se; tid_len = p2 - se
                    elif fn2 == 2:
                        sid_off = se; sid_len = p2 - se
                    else:
                        ts_off = se; ts_len = p2 - se
                elif wt2 == 0 and fn2 == 5:
                    self.varint(&p2, pos, &v)
                    dropped = <uint32_t>v
                elif wt2 == 5 and fn2 == 6:
                    self.fixed32(&p2, pos, &flags)
                else:
                    self.skip(&p2, pos, wt2)
            if tid_len != 16 or sid_len != 8:
                self.reasons[R_LINK] = self.reasons.get(R_LINK, 0) + 1
                continue
            col_hex(&C[L_TRACE_ID], self.b + tid_off0, 16)
            col_hex(&C[L_SPAN_ID], self.b + sid_off0, 8)
            col_u32(&C[L_SEQ], n)
            col_hex(&C[L_LTID], self.b + tid_off, 16)
            col_hex(&C[L_LSID], self.b + sid_off, 8)
            if ts_len:
                col_str(&C[L_TS], <const char*>(self.b + ts_off), ts_len)
            else:
                col_null(&C[L_TS])
            col_u32(&C[L_FLAGS], flags)
            self.attrs_col(&C[L_ATTRS], s, pos, 4)
            col_u32(&C[L_DROPPED], dropped)
            # la.get("messaging.message.id", la.get("messaging.message_id")), last key wins
            new_i = -1
            old_i = -1
            for i in range(self.top.n):
                e = &self.top.data[i]
                if self.key_is(e, b"messaging.message.id", 20):
                    new_i = i
                elif self.key_is(e, b"messaging.message_id", 20):
                    old_i = i
            if new_i < 0:
                new_i = old_i
            if new_i < 0 or self.top.data[new_i].av.kind == K_NONE:
                col_null(&C[L_MID])
            else:
                e = &self.top.data[new_i]
                if e.av.kind == K_STR:
                    col_str(&C[L_MID], <const char*>(self.b + e.av.off), e.av.end - e.av.off)
                else:
                    col_obj(&C[L_MID], str(self.pyvalue(&e.av, 0)))
            n += 1
        return n

    cdef tuple result(self):
        cdef int i
        arrays = [col_array(&self.cols[i], _FIELDS[i].type) for i in range(N_COLS)]
        return (arrays[:N_SPAN_COLS], arrays[N_SPAN_COLS:N_SPAN_COLS + N_EVENT_COLS],
                arrays[N_SPAN_COLS + N_EVENT_COLS:], self.rejected, self.reasons)


cdef _Decoder _run(const unsigned char[:] body, long long now_ns, long long min_time_ns,
                   long long max_time_ns):
    cdef _Decoder d = _Decoder()
    d.n = body.shape[0]
    d.b = &body[0] if d.n > 0 else <const uint8_t*>b""
    d.min_t = min_time_ns
    d.max_t = max_time_ns
    d.now = now_ns
    d.request()
    return d


def decode_arrays(const unsigned char[:] body, long long now_ns, long long min_time_ns,
                  long long max_time_ns):
    """Decode a serialized ``ExportTraceServiceRequest`` straight into Arrow arrays.

    Returns ``(span_arrays, event_arrays, link_arrays, rejected, reasons)``: lists of
    ``pyarrow.Array`` in the order of SPAN_SCHEMA / EVENT_SCHEMA / LINK_SCHEMA, with exactly
    the values :func:`collector.decode.decode_request` produces. Raises ``ValueError`` on
    bytes it cannot (or will not) decode, ``OverflowError`` where the reference decoder
    would fail on an out-of-range value."""
    return _run(body, now_ns, min_time_ns, max_time_ns).result()


def decode_columns(const unsigned char[:] body, long long now_ns, long long min_time_ns,
                   long long max_time_ns):
    """Like :func:`decode_arrays`, but columns as dicts of Python lists keyed by field name
    (the shape ``decode_request`` builds before ``pa.Table.from_pydict``)."""
    spans, events, links, rejected, reasons = decode_arrays(
        body, now_ns, min_time_ns, max_time_ns)
    out = []
    for sch, arrs in zip(_SCHEMAS, (spans, events, links)):
        out.append({f.name: a.to_pylist() for f, a in zip(sch, arrs)})
    return out[0], out[1], out[2], rejected, reasons
