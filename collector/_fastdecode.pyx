# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled OTLP trace decoder: protobuf wire format -> column lists, no message objects.

Produces exactly the columns of :func:`collector.decode.decode_request` (the reference
semantics; the tables below are imported from it). The caller validates the body with upb
first, so the input is assumed well formed, but every read is bounds-checked: anything
unexpected raises ``ValueError`` (the caller then falls back to the reference decoder).

Rare protobuf constructs whose merge semantics we do not reproduce (a singular sub-message
such as ``resource``, ``scope``, ``KeyValue.value`` or the same ``AnyValue`` array/kvlist
member occurring more than once, groups) also raise ``ValueError`` for that fallback.
"""

cimport cython
from libc.stdint cimport uint8_t, uint32_t, int32_t, uint64_t, int64_t
from libc.string cimport memcpy, memcmp, memset
from libc.stdlib cimport malloc, realloc, free
from libc.math cimport isfinite
from cpython.unicode cimport PyUnicode_DecodeUTF8
from cpython.mem cimport PyMem_Free

import base64 as _base64

import orjson as _orjson

from collector.decode import (
    KIND_NAMES as _KIND_NAMES, MAX_VALUE_DEPTH as _MAX_VALUE_DEPTH,
    NORMALISED_COLUMNS as _NORM_COLS, STATUS_NAMES as _STATUS_NAMES,
    _NORMALISED, _OPERATION_ALIASES,
)

cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object o)
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags,
                                int* ptype) except NULL
    int Py_DTSF_ADD_DOT_0


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
_TRUNC_JSON = _orjson.dumps(_TRUNC_STR)
cdef const char* TRUNC_JSON = _TRUNC_JSON
cdef Py_ssize_t TRUNC_JSON_LEN = len(_TRUNC_JSON)

_NORM_KEYS = [k.encode() for k in _NORMALISED]
cdef int n_norm_keys = len(_NORM_KEYS)
cdef const char* norm_key[N_NORM_KEYS_MAX]
cdef int norm_col[N_NORM_KEYS_MAX]
cdef int norm_prio[N_NORM_KEYS_MAX]
cdef int bucket_n[MAX_KEY_LEN + 1]
cdef int bucket[MAX_KEY_LEN + 1][BUCKET]

cdef int COL_BATCH = _NORM_COLS.index("msg_batch_count")
cdef int COL_OPTYPE = _NORM_COLS.index("msg_operation_type")

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
        L = len(kb)
        if L > MAX_KEY_LEN or bucket_n[L] >= BUCKET:
            raise ImportError("normalised key table does not fit")
        bucket[L][bucket_n[L]] = i
        bucket_n[L] += 1

_init_tables()

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
R_LINK = "links with invalid ids dropped"
UNKNOWN_SERVICE = "unknown_service"

# ---------------------------------------------------------------- helpers

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

cdef inline bint all_zero(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i]:
            return False
    return True


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
    cdef object now_obj
    cdef public long long rejected
    cdef public dict reasons
    # span columns
    cdef list c_trace_id, c_span_id, c_parent, c_trace_state, c_flags, c_name, c_kind
    cdef list c_start, c_end, c_status_code, c_status_msg, c_service, c_attrs
    cdef list c_dropped_attrs, c_dropped_events, c_dropped_links, c_event_count, c_link_count
    cdef list c_res_attrs, c_res_schema, c_res_dropped, c_scope_name, c_scope_version
    cdef list c_scope_attrs, c_scope_schema, c_scope_dropped, c_ingested
    cdef list norm_lists
    # event columns
    cdef list e_trace_id, e_span_id, e_seq, e_time, e_name, e_attrs, e_dropped
    # link columns
    cdef list l_trace_id, l_span_id, l_seq, l_ltid, l_lsid, l_ts, l_flags, l_attrs
    cdef list l_dropped, l_mid
    cdef object kinds, statuses, aliases, op_cache

    def __cinit__(self):
        self.out = NULL
        self.top.data = NULL
        self.top.n = 0
        self.top.cap = 0
        self.htab = NULL
        self.hcap = 0

    def __dealloc__(self):
        free(self.out)
        free(self.top.data)
        free(self.htab)

    def __init__(self):
        self.ocap = 4096
        self.out = <char*>malloc(self.ocap)
        if self.out == NULL:
            raise MemoryError()
        self.reasons = {}
        self.rejected = 0
        self.kinds = _KIND_NAMES
        self.statuses = _STATUS_NAMES
        self.aliases = _OPERATION_ALIASES
        self.op_cache = {}
        self.c_trace_id = []; self.c_span_id = []; self.c_parent = []; self.c_trace_state = []
        self.c_flags = []; self.c_name = []; self.c_kind = []; self.c_start = []; self.c_end = []
        self.c_status_code = []; self.c_status_msg = []; self.c_service = []; self.c_attrs = []
        self.c_dropped_attrs = []; self.c_dropped_events = []; self.c_dropped_links = []
        self.c_event_count = []; self.c_link_count = []; self.c_res_attrs = []
        self.c_res_schema = []; self.c_res_dropped = []; self.c_scope_name = []
        self.c_scope_version = []; self.c_scope_attrs = []; self.c_scope_schema = []
        self.c_scope_dropped = []; self.c_ingested = []
        self.norm_lists = [[] for _ in range(N_NORM_COLS)]
        self.e_trace_id = []; self.e_span_id = []; self.e_seq = []; self.e_time = []
        self.e_name = []; self.e_attrs = []; self.e_dropped = []
        self.l_trace_id = []; self.l_span_id = []; self.l_seq = []; self.l_ltid = []
        self.l_lsid = []; self.l_ts = []; self.l_flags = []; self.l_attrs = []
        self.l_dropped = []; self.l_mid = []

    # ------------------------------------------------------------ wire primitives

    cdef inline int varint(self, Py_ssize_t* pos, Py_ssize_t end, uint64_t* out) except -1:
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
        cdef uint64_t t
        self.varint(pos, end, &t)
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
        o[0] = b'"'
        o += 1
        for i in range(ln):
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

    cdef inline object take_json(self):
        return PyUnicode_DecodeUTF8(self.out, self.olen, NULL)

    # ------------------------------------------------------------ python values

    cdef inline object pystr(self, Py_ssize_t off, Py_ssize_t ln):
        return PyUnicode_DecodeUTF8(<const char*>(self.b + off), ln, NULL)

    cdef object hexstr(self, Py_ssize_t off, Py_ssize_t ln):
        s = PyUnicode_New(2 * ln, 127)
        cdef char* d = <char*>PyUnicode_DATA(s)
        cdef const uint8_t* p = self.b + off
        cdef Py_ssize_t i
        for i in range(ln):
            d[2 * i] = HEX[p[i] >> 4]
            d[2 * i + 1] = HEX[p[i] & 15]
        return s

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

    cdef object attrs_json(self, Py_ssize_t pos, Py_ssize_t end, uint32_t field):
        """JSON text of a top-level attribute set (None when empty); entries in self.top."""
        self.olen = 0
        self.put_kvs(pos, end, field, 0, &self.top)
        if self.top.n == 0:
            return None
        return self.take_json()

    cdef inline bint key_is(self, Entry* e, const char* key, Py_ssize_t ln) noexcept:
        return e.key_len == ln and memcmp(self.b + e.key_off, key, ln) == 0

    # ------------------------------------------------------------ messages

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

    cdef int resource_spans(self, Py_ssize_t start, Py_ssize_t end) except -1:
        cdef Py_ssize_t pos = start, s, rs = -1, re = -1, sch_off = 0, sch_len = 0, p2
        cdef uint32_t fn
        cdef int wt
        cdef uint64_t v
        cdef uint32_t res_dropped = 0
        cdef int nres = 0
        cdef Py_ssize_t i
        cdef Entry* e
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2 and fn == 1:
                self.length(&pos, end, &s)
                nres += 1
                if nres > 1:
                    _bad("repeated ResourceSpans.resource (merge not supported)")
                rs = s
                re = pos
            elif wt == 2 and fn == 3:
                self.length(&pos, end, &s)
                sch_off = s
                sch_len = pos - s
            else:
                self.skip(&pos, end, wt)
        res_json = None
        service = UNKNOWN_SERVICE
        if rs >= 0:
            pos = rs
            while pos < re:
                self.tag(&pos, re, &fn, &wt)
                if wt == 0 and fn == 2:
                    self.varint(&pos, re, &v)
                    res_dropped = <uint32_t>v
                else:
                    self.skip(&pos, re, wt)
            res_json = self.attrs_json(rs, re, 1)
            for i in range(self.top.n - 1, -1, -1):
                e = &self.top.data[i]
                if self.key_is(e, b"service.name", 12):
                    if (e.av.kind == K_STR or e.av.kind == K_BYTES) and e.av.end > e.av.off:
                        service = self.pyvalue(&e.av, 0)
                    break
        res_schema = self.pystr(sch_off, sch_len) if sch_len else None
        res_dropped_obj = res_dropped
        pos = start
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2 and fn == 2:
                self.length(&pos, end, &s)
                self.scope_spans(s, pos, service, res_json, res_schema, res_dropped_obj)
            else:
                self.skip(&pos, end, wt)
        return 0

    cdef int scope_spans(self, Py_ssize_t start, Py_ssize_t end, object service,
                         object res_json, object res_schema, object res_dropped) except -1:
        cdef Py_ssize_t pos = start, s, ss = -1, se = -1, sch_off = 0, sch_len = 0
        cdef Py_ssize_t name_off = 0, name_len = 0, ver_off = 0, ver_len = 0
        cdef uint32_t fn
        cdef int wt
        cdef uint64_t v
        cdef uint32_t sc_dropped = 0
        cdef int nscope = 0
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2 and fn == 1:
                self.length(&pos, end, &s)
                nscope += 1
                if nscope > 1:
                    _bad("repeated ScopeSpans.scope (merge not supported)")
                ss = s
                se = pos
            elif wt == 2 and fn == 3:
                self.length(&pos, end, &s)
                sch_off = s
                sch_len = pos - s
            else:
                self.skip(&pos, end, wt)
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
            scope_json = self.attrs_json(ss, se, 3)
        scope = (
            self.pystr(name_off, name_len) if name_len else None,
            self.pystr(ver_off, ver_len) if ver_len else None,
            scope_json,
            self.pystr(sch_off, sch_len) if sch_len else None,
            sc_dropped,
            service, res_json, res_schema, res_dropped,
        )
        pos = start
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2 and fn == 2:
                self.length(&pos, end, &s)
                self.span(s, pos, scope)
            else:
                self.skip(&pos, end, wt)
        return 0

    cdef int span(self, Py_ssize_t start, Py_ssize_t end, tuple ctx) except -1:
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
        while pos < end:
            self.tag(&pos, end, &fn, &wt)
            if wt == 2:
                self.length(&pos, end, &s)
                if fn == 1:
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
            elif wt == 5:
                if fn == 16:
                    self.fixed32(&pos, end, &flags)
                else:
                    self.skip(&pos, end, wt)
            else:
                self.skip(&pos, end, wt)

        why = None
        if tid_len != 16 or all_zero(self.b + tid_off, 16):
            why = R_TRACE
        elif sid_len != 8 or all_zero(self.b + sid_off, 8):
            why = R_SPAN
        elif pid_len != 0 and pid_len != 8:
            why = R_PARENT
        elif (start_t > <uint64_t>0x7FFFFFFFFFFFFFFF or <long long>start_t < self.min_t
              or <long long>start_t > self.max_t):
            why = R_START
        elif end_t < start_t:
            why = R_END
        if why is not None:
            self.rejected += 1
            self.reasons[why] = self.reasons.get(why, 0) + 1
            return 0

        th = self.hexstr(tid_off, 16)
        sh = self.hexstr(sid_off, 8)
        self.c_trace_id.append(th)
        self.c_span_id.append(sh)
        self.c_parent.append(self.hexstr(pid_off, 8)
                             if pid_len and not all_zero(self.b + pid_off, 8) else None)
        self.c_trace_state.append(self.pystr(ts_off, ts_len) if ts_len else None)
        self.c_flags.append(flags)
        self.c_name.append(self.pystr(name_off, name_len))
        self.c_kind.append(self.kinds[kind] if 0 <= kind < 6 else "UNSPECIFIED")
        self.c_start.append(start_t)
        self.c_end.append(end_t)
        self.c_status_code.append(self.statuses[code] if 0 <= code < 3 else "UNSET")
        self.c_status_msg.append(self.pystr(msg_off, msg_len) if msg_len else None)
        self.c_attrs.append(self.attrs_json(start, end, 9))
        self.c_dropped_attrs.append(d_attrs)
        self.c_dropped_events.append(d_events)
        self.c_dropped_links.append(d_links)
        self.c_scope_name.append(ctx[0])
        self.c_scope_version.append(ctx[1])
        self.c_scope_attrs.append(ctx[2])
        self.c_scope_schema.append(ctx[3])
        self.c_scope_dropped.append(ctx[4])
        self.c_service.append(ctx[5])
        self.c_res_attrs.append(ctx[6])
        self.c_res_schema.append(ctx[7])
        self.c_res_dropped.append(ctx[8])
        self.c_ingested.append(self.now_obj)

        # normalised columns: first occurrence of the best-priority key with a value
        for col in range(N_NORM_COLS):
            best_prio[col] = 99
            best_ent[col] = -1
        for i in range(self.top.n):
            e = &self.top.data[i]
            L = <int>e.key_len
            if L > MAX_KEY_LEN or bucket_n[L] == 0 or e.av.kind == K_NONE:
                continue
            for j in range(bucket_n[L]):
                ki = bucket[L][j]
                if memcmp(self.b + e.key_off, norm_key[ki], L) == 0:
                    col = norm_col[ki]
                    if norm_prio[ki] < best_prio[col]:
                        best_prio[col] = norm_prio[ki]
                        best_ent[col] = i
                    break
        for col in range(N_NORM_COLS):
            if best_ent[col] < 0:
                (<list>self.norm_lists[col]).append(None)
            else:
                (<list>self.norm_lists[col]).append(
                    self.norm_value(col, &self.top.data[best_ent[col]].av))

        n_ev = self.events(start, end, th, sh)
        n_lk = self.links(start, end, th, sh)
        self.c_event_count.append(n_ev)
        self.c_link_count.append(n_lk)
        return 0

    cdef object norm_value(self, int col, AV* av):
        cdef int k = av.kind
        if col == COL_BATCH:
            if k == K_INT:
                return <int64_t>av.u
            v = self.pyvalue(av, 0)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            try:
                return int(v)
            except (TypeError, ValueError):
                return None
        if col == COL_OPTYPE:
            if k == K_STR:
                raw = self.pystr(av.off, av.end - av.off)
                r = self.op_cache.get(raw)
                if r is None:
                    low = raw.lower()
                    r = self.aliases.get(low, low)
                    self.op_cache[raw] = r
                return r
            low = str(self.pyvalue(av, 0)).lower()
            return self.aliases.get(low, low)
        if k == K_STR:
            return self.pystr(av.off, av.end - av.off)
        v = self.pyvalue(av, 0)
        if isinstance(v, (dict, list)):
            return _orjson.dumps(v).decode()
        return v if isinstance(v, str) else str(v)

    cdef int events(self, Py_ssize_t start, Py_ssize_t end, object th, object sh) except -1:
        cdef Py_ssize_t pos = start, s, p2, se
        cdef uint32_t fn, fn2
        cdef int wt, wt2
        cdef uint64_t v, t
        cdef uint32_t dropped
        cdef Py_ssize_t name_off, name_len
        cdef int n = 0
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
            self.e_trace_id.append(th)
            self.e_span_id.append(sh)
            self.e_seq.append(n)
            self.e_time.append(t)
            self.e_name.append(self.pystr(name_off, name_len))
            self.e_attrs.append(self.attrs_json(s, pos, 3))
            self.e_dropped.append(dropped)
            n += 1
        return n

    cdef int links(self, Py_ssize_t start, Py_ssize_t end, object th, object sh) except -1:
        cdef Py_ssize_t pos = start, s, p2, se
        cdef uint32_t fn, fn2
        cdef int wt, wt2
        cdef uint64_t v
        cdef uint32_t dropped, flags
        cdef Py_ssize_t tid_off, tid_len, sid_off, sid_len, ts_off, ts_len, i
        cdef Py_ssize_t new_i, old_i
        cdef Entry* e
        cdef int n = 0
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
            attrs = self.attrs_json(s, pos, 4)
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
            mid = None
            if new_i >= 0:
                e = &self.top.data[new_i]
                if e.av.kind == K_STR:
                    mid = self.pystr(e.av.off, e.av.end - e.av.off)
                elif e.av.kind != K_NONE:
                    mid = str(self.pyvalue(&e.av, 0))
            self.l_trace_id.append(th)
            self.l_span_id.append(sh)
            self.l_seq.append(n)
            self.l_ltid.append(self.hexstr(tid_off, 16))
            self.l_lsid.append(self.hexstr(sid_off, 8))
            self.l_ts.append(self.pystr(ts_off, ts_len) if ts_len else None)
            self.l_flags.append(flags)
            self.l_attrs.append(attrs)
            self.l_dropped.append(dropped)
            self.l_mid.append(mid)
            n += 1
        return n

    cdef tuple result(self):
        nl = self.norm_lists
        spans = {
            "trace_id": self.c_trace_id, "span_id": self.c_span_id,
            "parent_span_id": self.c_parent, "trace_state": self.c_trace_state,
            "flags": self.c_flags, "name": self.c_name, "kind": self.c_kind,
            "start_time_unix_nano": self.c_start, "end_time_unix_nano": self.c_end,
            "status_code": self.c_status_code, "status_message": self.c_status_msg,
            "service_name": self.c_service, "attributes": self.c_attrs,
            "dropped_attributes_count": self.c_dropped_attrs,
            "dropped_events_count": self.c_dropped_events,
            "dropped_links_count": self.c_dropped_links,
            "event_count": self.c_event_count, "link_count": self.c_link_count,
            "resource_attributes": self.c_res_attrs, "resource_schema_url": self.c_res_schema,
            "resource_dropped_attributes_count": self.c_res_dropped,
            "scope_name": self.c_scope_name, "scope_version": self.c_scope_version,
            "scope_attributes": self.c_scope_attrs, "scope_schema_url": self.c_scope_schema,
            "scope_dropped_attributes_count": self.c_scope_dropped,
        }
        for i, name in enumerate(_NORM_COLS):
            spans[name] = nl[i]
        spans["ingested_at_unix_nano"] = self.c_ingested
        events = {
            "trace_id": self.e_trace_id, "span_id": self.e_span_id, "seq": self.e_seq,
            "time_unix_nano": self.e_time, "name": self.e_name, "attributes": self.e_attrs,
            "dropped_attributes_count": self.e_dropped,
        }
        links = {
            "trace_id": self.l_trace_id, "span_id": self.l_span_id, "seq": self.l_seq,
            "linked_trace_id": self.l_ltid, "linked_span_id": self.l_lsid,
            "trace_state": self.l_ts, "flags": self.l_flags, "attributes": self.l_attrs,
            "dropped_attributes_count": self.l_dropped, "msg_message_id": self.l_mid,
        }
        return spans, events, links, self.rejected, self.reasons


def decode_columns(const unsigned char[:] body, long long now_ns, long long min_time_ns,
                   long long max_time_ns):
    """Decode a serialized ``ExportTraceServiceRequest`` into column lists.

    Returns ``(span_columns, event_columns, link_columns, rejected, reasons)`` exactly as
    :func:`collector.decode.decode_request` would fill them. Raises ``ValueError`` on bytes
    it cannot (or will not) decode."""
    cdef _Decoder d = _Decoder()
    d.n = body.shape[0]
    d.b = &body[0] if d.n > 0 else <const uint8_t*>b""
    d.min_t = min_time_ns
    d.max_t = max_time_ns
    d.now_obj = now_ns
    d.request()
    return d.result()
