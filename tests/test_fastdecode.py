"""Differential tests: ``fastdecode.decode_bytes`` must equal ``decode_request(parse_request())``.

The compiled decoder walks the protobuf wire format itself, so it is compared with the
reference decoder on realistic requests, the full-field fixture, seeded random requests
(every AnyValue kind, nesting beyond the depth cap, awkward strings, duplicate keys, current and
legacy messaging keys, invalid ids and timestamps, unknown fields at every level) and on
malformed bodies.
"""

from __future__ import annotations

import json
import math
import random
import struct
import time
from typing import Any
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from bench.common import realistic_request
from collector import fastdecode
from collector.conventions import NORMALISED_KEYS
from collector.decode import (
    EVENT_SCHEMA, LINK_SCHEMA, MAX_FUTURE_NS, MAX_VALUE_DEPTH, MIN_TIME_NS,
    SPAN_SCHEMA, DecodeFailure, decode_request, parse_request,
)
from tests.otlp_fixtures import full_request

try:
    from collector import _fastdecode
except ImportError:  # extension not built: only the fallback is tested
    _fastdecode = None

NOW = 1_700_000_000 * 10**9
JSON_COLUMNS = {"attributes", "resource_attributes", "scope_attributes"}
BUILT = any(Path(fastdecode.__file__).parent.glob("_fastdecode*.so")) or any(
    Path(fastdecode.__file__).parent.glob("_fastdecode*.pyd"))
needs_fast = pytest.mark.skipif(_fastdecode is None, reason="collector._fastdecode not built "
                                "(pip install -e . with Cython and a C compiler)")


# ---------------------------------------------------------------- comparison

def _norm_json(v: str | None):
    # object_pairs_hook=list: key order and (absence of) duplicate keys are compared too
    return None if v is None else json.loads(v, object_pairs_hook=list)


def _outcome(fn):
    try:
        return fn(), None
    except Exception as exc:  # compared by type below
        return None, exc


def assert_same(body: bytes, now: int = NOW, *, expect_fast: bool = True) -> None:
    """decode_bytes(body) equals the reference column by column (or fails the same way)."""
    before = fastdecode.fallbacks
    ref, ref_exc = _outcome(lambda: decode_request(parse_request(body), now))
    got, got_exc = _outcome(lambda: fastdecode.decode_bytes(body, now))
    if ref_exc is not None or got_exc is not None:
        assert type(got_exc) is type(ref_exc), (ref_exc, got_exc)
        return
    if expect_fast and fastdecode.HAVE_FAST:
        assert fastdecode.fallbacks == before, "compiled decoder declined a plain request"
    assert got.rejected == ref.rejected
    assert got.reasons == ref.reasons
    for name, schema in (("spans", SPAN_SCHEMA), ("events", EVENT_SCHEMA),
                         ("links", LINK_SCHEMA)):
        g, r = getattr(got, name), getattr(ref, name)
        assert g.schema == r.schema == schema
        assert g.num_rows == r.num_rows, name
        for col in schema.names:
            gv, rv = g.column(col).to_pylist(), r.column(col).to_pylist()
            if col in JSON_COLUMNS:
                gv, rv = [_norm_json(x) for x in gv], [_norm_json(x) for x in rv]
            assert gv == rv, f"{name}.{col} differs"


# ---------------------------------------------------------------- wire helpers

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _tag(fn: int, wt: int) -> bytes:
    return _varint(fn << 3 | wt)


def _len(fn: int, payload: bytes) -> bytes:
    return _tag(fn, 2) + _varint(len(payload)) + payload


def _unknown(rng: random.Random) -> bytes:
    """A few unknown fields of every wire type (field numbers no OTLP message uses)."""
    out = b""
    for _ in range(rng.randint(1, 3)):
        fn = rng.choice([50, 99, 1000, 536870911])
        wt = rng.choice([0, 1, 2, 5])
        if wt == 0:
            out += _tag(fn, 0) + _varint(rng.choice([0, 1, 300, 2**63, 2**64 - 1]))
        elif wt == 1:
            out += _tag(fn, 1) + rng.randbytes(8)
        elif wt == 2:
            out += _len(fn, rng.randbytes(rng.randint(0, 9)))
        else:
            out += _tag(fn, 5) + rng.randbytes(4)
    return out


def _with_unknown(msg, rng: random.Random, p: float = 0.3):
    """Append unknown fields to a message (upb keeps and re-serializes them)."""
    if rng.random() < p:
        msg.MergeFromString(_unknown(rng))
    return msg


# ---------------------------------------------------------------- random requests

_CHARS = ["a", "Z", "0", " ", '"', "\\", "/", "\x00", "\x01", "\x08", "\x0b", "\x1f", "\x7f",
          "\n", "\t", "\r", "\f", "é", "€", "😀", "\u2028", "\ufeff", "<", "&", "'"]
_NORM_KEYS = list(NORMALISED_KEYS)


def _rstr(rng: random.Random, maxlen: int = 8) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(rng.randint(0, maxlen)))


def _rdouble(rng: random.Random) -> float:
    return rng.choice([0.0, -0.0, 0.25, -1.5, 1e20, 1e-7, 1.0, 3.7, 123456789.125,
                       1.7976931348623157e308, 5e-324, math.pi, float("nan"), float("inf"),
                       -float("inf"), rng.uniform(-1e6, 1e6), rng.random()])


def _rint(rng: random.Random) -> int:
    return rng.choice([0, 1, -1, 7, 127, 128, -129, 2**31, -(2**31), 2**62,
                       2**63 - 1, -(2**63), rng.randint(-10**12, 10**12)])


def _rvalue(rng: random.Random, depth: int = 0) -> AnyValue:
    a = AnyValue()
    kinds = ["str", "int", "double", "bool", "bytes", "none"]
    if depth < 4:
        kinds += ["array", "kvlist"]
    k = rng.choice(kinds)
    if k == "str":
        a.string_value = _rstr(rng)
    elif k == "int":
        a.int_value = _rint(rng)
    elif k == "double":
        a.double_value = _rdouble(rng)
    elif k == "bool":
        a.bool_value = rng.random() < 0.5
    elif k == "bytes":
        a.bytes_value = rng.randbytes(rng.randint(0, 7))
    elif k == "array":
        a.array_value.SetInParent()
        for _ in range(rng.randint(0, 3)):
            a.array_value.values.append(_rvalue(rng, depth + 1))
    elif k == "kvlist":
        a.kvlist_value.SetInParent()
        for _ in range(rng.randint(0, 3)):
            a.kvlist_value.values.append(_rkv(rng, depth + 1))
    return _with_unknown(a, rng, 0.1)


def _norm_value(rng: random.Random, key: str) -> AnyValue:
    """Values a normalised key may carry, including those needing conversion."""
    a = AnyValue()
    r = rng.random()
    if key == "messaging.batch.message_count":
        choice = rng.choice(["int", "str", "double", "bool", "other"])
        if choice == "int":
            a.int_value = _rint(rng)
        elif choice == "str":
            a.string_value = rng.choice(["12", " 7 ", "1_000", "-3", "abc", "", "4.5", "٣"])
        elif choice == "double":
            a.double_value = rng.choice([3.7, -2.0, 0.0, float("nan")])
        elif choice == "bool":
            a.bool_value = rng.random() < 0.5
        else:
            return _rvalue(rng, 2)
        return a
    if key.startswith("messaging.operation") and r < 0.6:
        a.string_value = rng.choice(["publish", "PUBLISH", "Deliver", "ack", "nack", "send",
                                     "Process", "receive", "ÄCK", "settle", "", " Ack"])
        return a
    if r < 0.6:
        a.string_value = rng.choice(["kafka", "orders", "", "q-1", _rstr(rng)])
        return a
    return _rvalue(rng, 2)


def _rkv(rng: random.Random, depth: int = 0, keys: list[str] | None = None) -> KeyValue:
    kv = KeyValue()
    if keys and rng.random() < 0.5:
        kv.key = rng.choice(keys)
        kv.value.CopyFrom(_norm_value(rng, kv.key))
    else:
        kv.key = rng.choice(["k", "a.b", "dup", "", "service.name", _rstr(rng, 5)])
        if rng.random() < 0.95:
            kv.value.CopyFrom(_rvalue(rng, depth))
    return _with_unknown(kv, rng, 0.1)


def _rattrs(rng: random.Random, field, n: int, keys: list[str] | None = None) -> None:
    for _ in range(n):
        field.append(_rkv(rng, 0, keys))
    if field and rng.random() < 0.2:  # an explicit duplicate of an earlier key
        dup = KeyValue()
        dup.key = field[rng.randrange(len(field))].key
        dup.value.CopyFrom(_rvalue(rng, 1))
        field.append(dup)


def _rid(rng: random.Random, n: int) -> bytes:
    r = rng.random()
    if r < 0.85:
        return rng.randbytes(n)
    return rng.choice([b"", bytes(n), rng.randbytes(n - 1), rng.randbytes(n + 1),
                       b"\x00" * (n - 1) + b"\x01"])


def _rtime(rng: random.Random, now: int) -> int:
    r = rng.random()
    if r < 0.85:
        return now - rng.randint(0, 10**12)
    return rng.choice([0, MIN_TIME_NS - 1, MIN_TIME_NS, now + MAX_FUTURE_NS,
                       now + MAX_FUTURE_NS + 1, 2**63 - 1, 2**63, 2**64 - 1])


def random_request(seed: int, now: int = NOW) -> bytes:
    rng = random.Random(seed)
    req = ExportTraceServiceRequest()
    for _ in range(rng.randint(0, 3)):
        rs = req.resource_spans.add()
        if rng.random() < 0.8:
            rs.resource.SetInParent()
            svc = rng.random()
            if svc < 0.5:
                rs.resource.attributes.append(KeyValue(key="service.name",
                                                       value=AnyValue(string_value="svc-é")))
            elif svc < 0.6:
                rs.resource.attributes.append(KeyValue(key="service.name",
                                                       value=AnyValue(string_value="")))
            elif svc < 0.7:
                rs.resource.attributes.append(KeyValue(
                    key="service.name", value=AnyValue(bytes_value=rng.randbytes(3))))
            elif svc < 0.75:
                rs.resource.attributes.append(KeyValue(key="service.name",
                                                       value=AnyValue(int_value=3)))
            _rattrs(rng, rs.resource.attributes, rng.randint(0, 4))
            if rng.random() < 0.3:
                rs.resource.dropped_attributes_count = rng.choice([1, 2**32 - 1])
            _with_unknown(rs.resource, rng)
        if rng.random() < 0.5:
            rs.schema_url = rng.choice(["", "https://opentelemetry.io/schemas/1.26.0"])
        for _ in range(rng.randint(0, 3)):
            ss = rs.scope_spans.add()
            if rng.random() < 0.7:
                ss.scope.name = rng.choice(["", "lib", _rstr(rng)])
                ss.scope.version = rng.choice(["", "1.0"])
                _rattrs(rng, ss.scope.attributes, rng.randint(0, 2))
                ss.scope.dropped_attributes_count = rng.choice([0, 5])
                _with_unknown(ss.scope, rng)
            ss.schema_url = rng.choice(["", "s"])
            for _ in range(rng.randint(0, 12)):
                _random_span(rng, ss.spans.add(), now)
            _with_unknown(ss, rng, 0.2)
        _with_unknown(rs, rng, 0.2)
    body = req.SerializeToString()
    if rng.random() < 0.3:
        body += _unknown(rng)
    return body


def _random_span(rng: random.Random, s, now: int) -> None:
    s.trace_id = _rid(rng, 16)
    s.span_id = _rid(rng, 8)
    if rng.random() < 0.6:
        s.parent_span_id = rng.choice([rng.randbytes(8), rng.randbytes(8), bytes(8),
                                       rng.randbytes(3)])
    if rng.random() < 0.3:
        s.trace_state = rng.choice(["", "a=b", _rstr(rng)])
    s.flags = rng.choice([0, 1, 0x301, 2**32 - 1])
    s.name = rng.choice(["", "publish orders", _rstr(rng)])
    s.kind = rng.choice([0, 1, 2, 3, 4, 5, 6, 99, -1])
    s.start_time_unix_nano = start = _rtime(rng, now)
    end = rng.choice([start, start + rng.randint(0, 10**9), max(start - 1, 0), 0])
    # the reference decoder fails on ends >= 2**63 (tested separately)
    s.end_time_unix_nano = end if end < 2**63 else start
    _rattrs(rng, s.attributes, rng.randint(0, 12), _NORM_KEYS)
    s.dropped_attributes_count = rng.choice([0, 3])
    s.dropped_events_count = rng.choice([0, 4])
    s.dropped_links_count = rng.choice([0, 2**32 - 1])
    if rng.random() < 0.5:
        s.status.code = rng.choice([0, 1, 2, 3, -5])
        s.status.message = rng.choice(["", "broker said no", _rstr(rng)])
    for _ in range(rng.randint(0, 3)):
        e = s.events.add()
        e.time_unix_nano = rng.choice([0, now, 2**63 - 1])
        e.name = rng.choice(["", "exception", _rstr(rng)])
        _rattrs(rng, e.attributes, rng.randint(0, 3))
        e.dropped_attributes_count = rng.choice([0, 6])
        _with_unknown(e, rng)
    for _ in range(rng.randint(0, 3)):
        ln = s.links.add()
        ln.trace_id = rng.choice([rng.randbytes(16), rng.randbytes(16), bytes(16), b"",
                                  rng.randbytes(15)])
        ln.span_id = rng.choice([rng.randbytes(8), rng.randbytes(8), bytes(8), rng.randbytes(9)])
        ln.trace_state = rng.choice(["", "x=y"])
        ln.flags = rng.choice([0, 1, 257])
        ln.dropped_attributes_count = rng.choice([0, 7])
        for _ in range(rng.randint(0, 3)):
            key = rng.choice(["messaging.message.id", "messaging.message_id", "other"])
            kv = ln.attributes.add()
            kv.key = key
            if rng.random() < 0.9:
                kv.value.CopyFrom(_rvalue(rng, 1) if rng.random() < 0.4 else
                                  AnyValue(string_value=_rstr(rng)))
        _with_unknown(ln, rng)
    if rng.random() < 0.2:
        # a known field number with the wrong wire type is an unknown field for upb
        s.MergeFromString(_tag(1, 0) + _varint(5) + _tag(7, 0) + _varint(9))
    _with_unknown(s, rng)


# ---------------------------------------------------------------- deep values (raw wire)

def _raw_scalar(kind: str) -> bytes:
    if kind == "bytes":
        return _len(7, b"\x00\xff")
    if kind == "str":
        return _len(1, "leaf\n".encode())
    if kind == "double":
        return _tag(4, 1) + struct.pack("<d", 2.5)
    return _tag(3, 0) + _varint(-42)


def _raw_nested(depth: int, leaf: str, mix: str) -> bytes:
    """AnyValue bytes nested ``depth`` levels (array, kvlist or alternating)."""
    v = _raw_scalar(leaf)
    for i in range(depth):
        kind = mix if mix != "alt" else ("array" if i % 2 else "kvlist")
        if kind == "array":
            v = _len(5, _len(1, v) + _len(1, _raw_scalar("str")))
        else:
            v = _len(6, _len(1, _len(1, b"k") + _len(2, v)))
    return v


def _request_with_span_attr_bytes(kv_bytes: list[bytes], now: int = NOW, rs_extra: bytes = b"",
                                  ss_extra: bytes = b"") -> bytes:
    span = (_len(1, b"\x01" * 16) + _len(2, b"\x02" * 8) + _len(5, b"deep")
            + _tag(7, 1) + struct.pack("<Q", now) + _tag(8, 1) + struct.pack("<Q", now + 5)
            + b"".join(_len(9, kv) for kv in kv_bytes))
    scope_spans = _len(1, _len(1, b"lib")) + _len(2, span) + ss_extra
    resource = _len(1, _len(1, b"service.name") + _len(2, _len(1, b"deep-svc")))
    return _len(1, _len(1, resource) + _len(2, scope_spans) + rs_extra)


# ---------------------------------------------------------------- tests

def test_have_fast_when_built():
    if not BUILT:
        pytest.skip("collector/_fastdecode*.so not built: pure-Python fallback in use")
    assert fastdecode.HAVE_FAST, "extension built but not importable"


@pytest.mark.parametrize("seed", range(4))
def test_realistic_requests(seed):
    body = realistic_request(300 if seed else 1000, random.Random(seed), NOW)
    assert_same(body)


def test_full_request():
    assert_same(full_request(NOW).SerializeToString())


def test_empty_request():
    assert_same(b"")
    batch = fastdecode.decode_bytes(b"", NOW)
    assert batch.span_count == 0 and batch.rejected == 0 and batch.reasons == {}


@pytest.mark.parametrize("seed", range(300))
def test_random_requests(seed):
    assert_same(random_request(seed))


def test_random_requests_cover_rejections():
    reasons: dict[str, int] = {}
    failing = 0
    for seed in range(300):
        try:
            batch = fastdecode.decode_bytes(random_request(seed), NOW)
        except OverflowError:  # never expected any more: out-of-range values are handled
            failing += 1
            continue
        for k, v in batch.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
    assert failing == 0
    assert len(reasons) == 6, reasons  # five span reasons and dropped links


@pytest.mark.parametrize("depth", [0, 1, MAX_VALUE_DEPTH - 1, MAX_VALUE_DEPTH,
                                   MAX_VALUE_DEPTH + 1, 40])
@pytest.mark.parametrize("mix", ["array", "kvlist", "alt"])
@pytest.mark.parametrize("leaf", ["bytes", "str", "int", "double"])
def test_deep_values(depth, mix, leaf):
    kv = _len(1, b"deep") + _len(2, _raw_nested(depth, leaf, mix))
    assert_same(_request_with_span_attr_bytes([kv]))


def test_too_deep_for_upb_fails_like_reference():
    kv = _len(1, b"deep") + _len(2, _raw_nested(60, "str", "array"))
    body = _request_with_span_attr_bytes([kv])
    with pytest.raises(DecodeFailure):
        fastdecode.decode_bytes(body, NOW)
    assert_same(body)


def test_strings_escaping_and_unicode():
    keys = ['q"uote', "back\\slash", "ctl\x00\x01\x1f", "nl\n\t\r\b\f", "del\x7f",
            "é€😀\u2028", "", "/"]
    req = full_request(NOW)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    for k in keys:
        span.attributes.append(KeyValue(key=k, value=AnyValue(string_value=k + "|" + k)))
    assert_same(req.SerializeToString())


def test_numbers():
    req = full_request(NOW)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    for i, d in enumerate([0.1, 1e20, 1e-7, 1e16, 1e-5, 123.0, -0.0, 5e-324,
                           1.7976931348623157e308, float("nan"), float("inf"), -float("inf")]):
        span.attributes.append(KeyValue(key=f"d{i}", value=AnyValue(double_value=d)))
    for i, n in enumerate([0, -1, 2**63 - 1, -(2**63), 10**15]):
        span.attributes.append(KeyValue(key=f"i{i}", value=AnyValue(int_value=n)))
    assert_same(req.SerializeToString())
    # doubles round-trip exactly through the JSON text
    got = json.loads(fastdecode.decode_bytes(req.SerializeToString(), NOW)
                     .spans.column("attributes")[0].as_py())
    assert got["d7"] == 5e-324 and got["d8"] == 1.7976931348623157e308
    assert got["d9"] is None and got["d10"] is None and got["i3"] == -(2**63)


def test_duplicate_keys_last_value_first_position():
    req = full_request(NOW)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    del span.attributes[:]
    for k, v in [("a", "1"), ("b", "2"), ("a", "3"), ("messaging.system", "x"),
                 ("messaging.system", "y")]:
        span.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
    body = req.SerializeToString()
    assert_same(body)
    spans = fastdecode.decode_bytes(body, NOW).spans
    assert json.loads(spans.column("attributes")[0].as_py(), object_pairs_hook=list) == [
        ("a", "3"), ("b", "2"), ("messaging.system", "y")]
    # normalisation keeps the first occurrence of the best priority (as the reference does)
    assert spans.column("msg_system")[0].as_py() == "x"


def test_many_attributes_hash_dedupe():
    req = full_request(NOW)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    rng = random.Random(5)
    for i in range(400):
        span.attributes.append(KeyValue(key=f"key{rng.randint(0, 150)}",
                                        value=AnyValue(int_value=i)))
    assert_same(req.SerializeToString())


def test_messaging_precedence():
    cases = [
        [("messaging.destination", "legacy"), ("messaging.destination.name", "current")],
        [("messaging.destination.template", "t"), ("messaging.destination", "legacy")],
        [("messaging.operation", "publish"), ("messaging.operation.type", "Receive")],
        [("messaging.operation", "DELIVER")],
        [("messaging.kafka.consumer_group", "g2"), ("messaging.kafka.consumer.group", "g1")],
        [("messaging.message_id", "old"), ("messaging.message.id", None)],
        [("net.peer.name", "h"), ("server.address", "s")],
        [("db.system.name", "pg"), ("db.system", "postgresql")],
        [("messaging.batch.message_count", " 12 ")],
        [("messaging.batch.message_count", 3.9)],
        [("messaging.batch.message_count", True)],
        [("messaging.batch.message_count", "x")],
        [("messaging.system", True), ("peer.service", 2.5), ("messaging.message.id", 7)],
        [("messaging.destination.name", ["a", 1]), ("messaging.operation.type", {"k": 1})],
        [("messaging.operation.type", b"\x01")],
        [("messaging.destination.temporary", True), ("messaging.destination.name", "r1")],
        [("messaging.destination.temporary", False), ("messaging.destination.anonymous", True)],
        [("messaging.destination.anonymous", True)],
        [("messaging.destination_kind", "queue"), ("messaging.destination.temporary", True)],
        [("messaging.destination.temporary", "yes")],
        # an AWS SDK messaging call names its operation only as an RPC method
        [("messaging.system", "aws.sqs"), ("rpc.method", "SendMessage")],
        [("rpc.method", "ReceiveMessage"), ("messaging.system", "aws.sqs")],
        [("messaging.system", "aws.sqs"), ("rpc.method", "GetQueueUrl")],
        [("messaging.system", "aws.sqs"), ("rpc.method", 5)],
        [("messaging.system", "aws.sqs"), ("rpc.method", "X"), ("rpc.method", "SendMessage")],
        [("messaging.system", "aws.sqs"), ("messaging.operation", "process"),
         ("rpc.method", "SendMessage")],
        [("rpc.method", "Publish")],
        # the Java agent's SNS Publish: a destination (the topic ARN), no system
        [("rpc.method", "Publish"), ("messaging.destination.name", "arn:aws:sns:x:1:t")],
        # conventions 1.17-1.20 name a consumer's destination its source
        [("messaging.source.name", "orders"), ("messaging.source.temporary", True)],
        [("messaging.source.name", "old"), ("messaging.destination.name", "new")],
        [("messaging.source.anonymous", True), ("messaging.source.name", "r1")],
        # NServiceBus' own tags
        [("nservicebus.message_id", "n1"), ("nservicebus.conversation_id", "c1")],
        [("nservicebus.message_id", "n1"), ("messaging.message.id", "m1")],
        # FastStream's consumers, BullMQ's queue and job
        [("messaging.destination_publish.name", "pub"), ("messaging.source.name", "src")],
        [("bullmq.queue.name", "emails"), ("bullmq.job.id", "7")],
        [("message_bus.destination", "orders"), ("bullmq.queue.name", "q")],
        [("message_bus.destination", "orders")],
        [("peer.hostname", "legacy-db"), ("net.peer.name", "h")],
        [("peer.hostname", "legacy-db")],
        # an X-Ray subsegment (awsxrayreceiver): aws.service + aws.operation, no rpc.*
        [("aws.service", "SQS"), ("aws.operation", "SendMessage"),
         ("aws.queue_url", "https://sqs.eu-west-1.amazonaws.com/1/orders")],
        [("aws.service", "sns"), ("aws.operation", "Publish")],
        [("aws.service", "Sqs"), ("aws.operation", "ReceiveMessage")],
        [("aws.service", "DynamoDB"), ("aws.operation", "PutItem")],
        [("aws.service", "SQS"), ("rpc.system", "aws-api"), ("rpc.service", "S3"),
         ("aws.operation", "SendMessage")],
        # event stores, Hatchet, machinery
        [("db.system", "eventstoredb"), ("db.eventstoredb.stream", "orders"),
         ("db.eventstoredb.event.id", "e1")],
        [("hatchet.event_key", "order:created"), ("hatchet.workflow_name", "bill")],
        [("signature.uuid", "task_1"), ("messaging.message.id", "m1")],
        # Qpid Proton C++: its own address keys ('' names nothing)
        [("Delivery_tag", "0"), ("Destination_address", "examples")],
        [("Source_address", "examples")],
        [("Destination_address", "")],
        # Vert.x Kafka's tracer: the destination and peer.service 'kafka', no system
        [("messaging.destination.name", "orders"), ("peer.service", "kafka")],
        [("messaging.destination.name", "orders"), ("peer.service", "billing")],
        # Camel's endpoints: the system only as the component
        [("messaging.destination.name", "orders"), ("component", "camel-kafka")],
        [("messaging.destination.name", "orders"), ("component", "camel-timer")],
        # names sent as bytes (FastStream's Redis channels): their text, after the rules
        # that read names sent as text (a RabbitMQ composed name, a Kafka offset)
        [("messaging.destination.name", b"orders"), ("messaging.system", "redis")],
        [("messaging.destination_publish.name", b"\xff\xfe"), ("messaging.system", "redis")],
        [("messaging.destination.name", b"ex:key"), ("messaging.system", "rabbitmq")],
        [("messaging.destination.name", b"<default>"), ("messaging.system", "rabbitmq"),
         ("messaging.rabbitmq.destination.routing_key", "q")],
        [("messaging.system", "kafka"), ("messaging.message.id", b"17"),
         ("messaging.kafka.destination.partition", 2)],
        [("messaging.operation.type", b"PUBLISH"), ("messaging.batch.message_count", b"3")],
        [("messaging.destination.name", b"x"), ("messaging.destination.name", "y")],
        [("messaging.destination", b"legacy"), ("messaging.destination.name", "current")],
    ]
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i, attrs in enumerate(cases):
        s = ss.spans.add()
        s.trace_id = bytes([i + 1]) * 16
        s.span_id = bytes([i + 1]) * 8
        s.start_time_unix_nano = s.end_time_unix_nano = NOW
        for k, v in attrs:
            kv = s.attributes.add()
            kv.key = k
            if v is not None:
                from tests.otlp_fixtures import av
                kv.value.CopyFrom(av(v))
        ln = s.links.add()
        ln.trace_id, ln.span_id = bytes(16), bytes(8)
        for k, v in attrs:
            if "message" in k:
                kv = ln.attributes.add()
                kv.key = k
                if v is not None:
                    kv.value.CopyFrom(av(v))
    body = req.SerializeToString()
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    col = {name: spans.column(name).to_pylist() for name in spans.schema.names}
    aws = next(i for i, c in enumerate(cases) if c == [("messaging.system", "aws.sqs"),
                                                       ("rpc.method", "SendMessage")])
    # the RPC method only for a span of a messaging system (or destination) with no
    # operation of its own
    assert col["msg_operation_type"][aws:aws + 8] == [
        "send", "receive", None, None, "send", "process", None, "send"]
    src = aws + 8
    # (a temporary destination is stored as "(temporary)": collector/reply_names.py)
    assert col["msg_destination"][src:src + 3] == ["(temporary)", "new", "(temporary)"]
    assert col["msg_destination_kind"][src:src + 3] == ["temporary", None, "temporary"]
    assert col["msg_message_id"][src + 3:src + 5] == ["n1", "m1"]
    assert col["msg_conversation_id"][src + 3] == "c1"
    assert col["msg_destination"][src + 5:src + 9] == ["src", "emails", "q", "orders"]
    assert col["server_address"][src + 9:src + 11] == ["h", "legacy-db"]
    assert col["msg_message_id"][src + 6] == "7"
    xray = src + 11  # (the X-Ray subsegments: an SQS send, an SNS publish, a receive, ...)
    # (a bare receive stays an RPC, as an SDK span's does: messaging_fallbacks)
    assert col["msg_operation_type"][xray:xray + 5] == ["send", "send", None, None, "send"]
    assert col["msg_system"][xray:xray + 4] == ["aws_sqs", "aws_sns", None, None]
    assert col["msg_destination"][xray] == "orders"
    # (... event stores, Hatchet, machinery: their own keys)
    assert col["msg_destination"][xray + 5:xray + 7] == ["orders", "order:created"]
    assert col["msg_system"][xray + 5:xray + 7] == ["eventstoredb", "hatchet"]
    assert col["msg_message_id"][xray + 5] == "e1"
    assert col["msg_message_id"][xray + 7] == "m1"
    assert col["msg_destination"][xray + 8:xray + 11] == ["examples", "examples", None]
    assert col["msg_system"][xray + 8:xray + 11] == ["amqp", "amqp", None]
    assert col["msg_system"][xray + 11:xray + 15] == ["kafka", None, "kafka", None]


def test_eventgrid_publishes_named_by_their_sdk_and_url():
    """Azure Event Grid's SDKs tag no messaging attribute: both decoders read their client's
    scope span as a send (by its name, any case) and its HTTP request to a topic's (or a
    namespace topic's) publish endpoint as a send to that topic; other Event Grid
    requests and other names stay as they are."""
    host = "https://orders.westeurope-1.eventgrid.azure.net"
    cases = [
        ("EventGridPublisherClient.SendEvents", [("az.namespace", "Microsoft.EventGrid")]),
        ("EventGridPublisherClient.send", []),
        ("EventGridSenderClient.Send", []),
        ("Azure.Core.Http.Request", [("http.url", host + "/api/events?api-version=2018-01-01")]),
        ("POST", [("url.full", "https://ns.westeurope-1.eventgrid.azure.net/topics/"
                               "orders:publish?api-version=2024-06-01")]),
        ("POST", [("url.full", "https://ns.westeurope-1.eventgrid.azure.net/topics/"
                               "orders/eventsubscriptions/s:receive")]),
        ("EventGridReceiverClient.Receive", []),
        ("Eventually", [("http.url", "https://example.com/api/events")]),
    ]
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i, (name, attrs) in enumerate(cases):
        s = ss.spans.add()
        s.trace_id = bytes([i + 1]) * 16
        s.span_id = bytes([i + 1]) * 8
        s.name = name
        s.kind = 3 if name in ("POST", "Azure.Core.Http.Request") else 1
        s.start_time_unix_nano = s.end_time_unix_nano = NOW
        for k, v in attrs:
            kv = s.attributes.add()
            kv.key = k
            kv.value.string_value = v
    body = req.SerializeToString()
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    col = {name: spans.column(name).to_pylist() for name in spans.schema.names}
    assert col["msg_system"] == ["eventgrid"] * 5 + [None] * 3
    assert col["msg_operation_type"] == ["send"] * 5 + [None] * 3
    assert col["msg_destination"] == [None, None, None, "orders", "orders", None, None, None]



def test_dramatiq_spans_named_by_their_instrumentor():
    """opentelemetry-instrumentor-dramatiq tags no messaging attribute: both decoders read
    its "dramatiq.producer.<actor>" SERVER span as a send to the actor's queue and its
    worker's "dramatiq.worker.WorkerThread" CONSUMER span as a delivery, each with its
    message id; the same keys under other names, or a worker span without its actor, mean
    nothing. A message id by the conventions' key, where one is, stays (a library's rule
    fills in what a span does not say)."""
    cases = [
        ("dramatiq.producer.send_invoice", 2,
         [("actor_name", "send_invoice"), ("queue_name", "invoices"), ("message_id", "m-1")]),
        ("dramatiq.producer.send_invoice", 2,
         [("messaging.message.id", "m-5"), ("queue_name", "invoices"), ("message_id", "m-6")]),
        ("dramatiq.worker.WorkerThread", 5, [("message_id", "m-1"),
                                             ("actor_name", "send_invoice")]),
        ("dramatiq.producer.no_queue", 2, [("message_id", "m-2")]),
        ("dramatiq.worker.WorkerThread", 5, [("message_id", "m-3")]),
        ("enqueue", 2, [("queue_name", "invoices"), ("message_id", "m-4")]),
        ("dramatiq", 1, []),
    ]
    body = _spans_request(cases)
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    col = {name: spans.column(name).to_pylist() for name in spans.schema.names}
    assert col["msg_system"] == ["dramatiq"] * 4 + [None] * 3
    assert col["msg_operation_type"] == ["send", "send", "process", "send", None, None, None]
    assert col["msg_destination"] == ["invoices", "invoices", None, None, None, None, None]
    assert col["msg_message_id"] == ["m-1", "m-5", "m-1", "m-2", None, None, None]


def test_unknown_fields_everywhere():
    for seed in range(40):
        rng = random.Random(1000 + seed)
        body = realistic_request(5, rng, NOW)
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            _with_unknown(rs, rng, 1)
            _with_unknown(rs.resource, rng, 1)
            for ss in rs.scope_spans:
                _with_unknown(ss, rng, 1)
                _with_unknown(ss.scope, rng, 1)
                for s in ss.spans:
                    _with_unknown(s, rng, 1)
                    _with_unknown(s.status, rng, 1)
                    for kv in s.attributes:
                        _with_unknown(kv, rng, 1)
                        _with_unknown(kv.value, rng, 1)
                    for e in s.events:
                        _with_unknown(e, rng, 1)
                    for ln in s.links:
                        _with_unknown(ln, rng, 1)
        assert_same(req.SerializeToString() + _unknown(rng))


def test_scalars_last_occurrence_wins():
    body = full_request(NOW).SerializeToString()
    req = ExportTraceServiceRequest.FromString(body)
    s = req.resource_spans[0].scope_spans[0].spans[0]
    s.MergeFromString(_len(5, b"renamed") + _tag(6, 0) + _varint(2) + _len(15, _tag(3, 0)
                      + _varint(1)) + _tag(16, 5) + struct.pack("<I", 7))
    assert_same(req.SerializeToString())


@pytest.mark.parametrize("extra", ["kv_value_twice", "anyvalue_array_twice", "resource_twice",
                                   "scope_twice", "group"])
def test_declined_constructs_fall_back_exactly(extra):
    """Merges of repeated singular sub-messages and groups: the reference decides."""
    now = NOW
    if extra == "kv_value_twice":
        kv = _len(1, b"k") + _len(2, _len(1, b"a")) + _len(2, _tag(3, 0) + _varint(3))
        body = _request_with_span_attr_bytes([kv])
    elif extra == "anyvalue_array_twice":
        kv = _len(1, b"k") + _len(2, _len(5, _len(1, _len(1, b"x"))) + _len(5, _len(1, b"")))
        body = _request_with_span_attr_bytes([kv])
    elif extra == "resource_twice":
        # a second `resource` merges into the first: both attribute sets, later dropped count
        body = _request_with_span_attr_bytes([], rs_extra=_len(1, _len(1, _len(1, b"x") + _len(
            2, _len(1, b"y"))) + _tag(2, 0) + _varint(4)))
        merged = ExportTraceServiceRequest.FromString(body).resource_spans[0].resource
        assert len(merged.attributes) == 2 and merged.dropped_attributes_count == 4
    elif extra == "scope_twice":
        body = _request_with_span_attr_bytes([], ss_extra=_len(1, _len(2, b"v")))
    else:
        body = _request_with_span_attr_bytes([]) + _tag(20, 3) + _tag(1, 0) + b"\x01" + _tag(20, 4)
    before = fastdecode.fallbacks
    assert_same(body, now, expect_fast=False)
    if fastdecode.HAVE_FAST:
        assert fastdecode.fallbacks == before + 1


@pytest.mark.parametrize("case", ["end_time_overflow", "event_time_overflow",
                                  "batch_count_inf", "batch_count_huge"])
def test_out_of_range_values_are_handled_gracefully(case):
    """Values that don't fit int64 reject the span or become null, on both paths alike."""
    req = full_request(NOW)
    s = req.resource_spans[0].scope_spans[0].spans[0]
    if case == "end_time_overflow":
        s.end_time_unix_nano = 2**63
    elif case == "event_time_overflow":
        s.events[0].time_unix_nano = 2**64 - 1
    elif case == "batch_count_inf":
        s.attributes.append(KeyValue(key="messaging.batch.message_count",
                                     value=AnyValue(double_value=float("inf"))))
        del s.attributes[5]  # the int one, so the double is the winner
    else:
        del s.attributes[5]
        s.attributes.append(KeyValue(key="messaging.batch.message_count",
                                     value=AnyValue(string_value="9" * 25)))
    body = req.SerializeToString()
    assert_same(body)
    got = fastdecode.decode_bytes(body, NOW)
    if case == "end_time_overflow":
        assert got.rejected == 1 and "end time out of range" in got.rejection_message()
    elif case == "event_time_overflow":
        assert got.events.column("time_unix_nano").to_pylist() == [None]
    else:
        assert got.spans.column("msg_batch_count").to_pylist() == [None]


def test_malformed_bodies_raise_decode_failure():
    body = realistic_request(50, random.Random(3), NOW)
    rng = random.Random(9)
    for cut in sorted(rng.sample(range(1, len(body)), 200)):
        trunc = body[:cut]
        ref, ref_exc = _outcome(lambda: decode_request(parse_request(trunc), NOW))
        got, got_exc = _outcome(lambda: fastdecode.decode_bytes(trunc, NOW))
        assert type(got_exc) is type(ref_exc)
        if got_exc is not None:
            assert isinstance(got_exc, DecodeFailure)
    for _ in range(300):
        junk = rng.randbytes(rng.randint(1, 200))
        assert_same(junk)


@needs_fast
def test_compiled_decoder_never_crashes_on_garbage():
    """Straight into the wire walker (no upb in front): ValueError or a result, no crash."""
    rng = random.Random(11)
    bodies = [realistic_request(20, rng, NOW), full_request(NOW).SerializeToString(),
              random_request(7), random_request(8)]
    args = (NOW, MIN_TIME_NS, NOW + MAX_FUTURE_NS)
    for body in bodies:
        for _ in range(400):
            b = bytearray(body)
            for _ in range(rng.randint(1, 6)):
                op = rng.random()
                i = rng.randrange(len(b))
                if op < 0.5:
                    b[i] = rng.randrange(256)
                elif op < 0.75:
                    del b[i:i + rng.randint(1, 8)]
                else:
                    b[i:i] = rng.randbytes(rng.randint(1, 8))
            try:
                _fastdecode.decode_arrays(bytes(b), *args)
            except (ValueError, OverflowError):
                pass
        for cut in range(0, len(body), max(1, len(body) // 97)):
            try:
                _fastdecode.decode_arrays(body[:cut], *args)
            except ValueError:
                pass
    for _ in range(500):
        try:
            _fastdecode.decode_arrays(rng.randbytes(rng.randint(0, 64)), *args)
        except ValueError:
            pass
    with pytest.raises(ValueError):
        _fastdecode.decode_arrays(b"\x0a\xff\xff\xff\xff\x0f", *args)
    with pytest.raises(ValueError):
        _fastdecode.decode_arrays(b"\x0a" + b"\xff" * 11, *args)


@needs_fast
def test_decode_columns_lists_match_reference():
    body = random_request(42)
    spans, events, links, rejected, reasons = _fastdecode.decode_columns(
        body, NOW, MIN_TIME_NS, NOW + MAX_FUTURE_NS)
    ref = decode_request(parse_request(body), NOW)
    assert rejected == ref.rejected and reasons == ref.reasons
    for cols, table in ((spans, ref.spans), (events, ref.events), (links, ref.links)):
        assert list(cols) == table.schema.names
        for name, values in cols.items():
            want = table.column(name).to_pylist()
            if name in JSON_COLUMNS:
                values, want = [_norm_json(v) for v in values], [_norm_json(v) for v in want]
            assert values == want, name


def test_default_now():
    body = realistic_request(10, random.Random(1), time.time_ns())
    batch = fastdecode.decode_bytes(body)
    assert batch.span_count == 10 and batch.rejected == 0
    assert abs(batch.spans.column("ingested_at_unix_nano")[0].as_py() - time.time_ns()) < 60e9


def _spans_request(specs: list[tuple[str, int, list[tuple[str, Any]]]]) -> bytes:
    """One export of a span per (name, kind, attributes), each in a trace of its own."""
    from tests.otlp_fixtures import av
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i, (name, kind, attrs) in enumerate(specs):
        s = ss.spans.add()
        s.trace_id = (i + 1).to_bytes(16, "big")
        s.span_id = (i + 1).to_bytes(8, "big")
        s.name = name
        s.kind = kind
        s.start_time_unix_nano = s.end_time_unix_nano = NOW
        for k, v in attrs:
            kv = s.attributes.add()
            kv.key = k
            kv.value.CopyFrom(av(v))
    return req.SerializeToString()


def test_operation_from_the_span_name():
    """A messaging span without an operation attribute takes the one its name gives
    ("{operation} {destination}", or the older "{destination} {operation}")."""
    cases = [  # (name, attributes, operation stored)
        ("receive default", [("messaging.destination.name", "default")], "receive"),
        ("process default", [("messaging.destination.name", "default")], "process"),
        ("orders publish", [("messaging.system", "kafka")], "send"),
        ("Deliver orders", [("messaging.system", "rabbitmq")], "process"),
        ("orders", [("messaging.system", "kafka")], None),
        ("recv", [("messaging.system", "kafka")], None),
        ("send orders", [], None),                       # not a messaging span
        ("process orders", [("messaging.system", "kafka"),
                            ("messaging.operation", "receive")], "receive"),
        ("apply_async/tasks.add", [("messaging.destination", "celery")], None),
        ("SQS.SendMessage", [("messaging.system", "aws.sqs"),
                             ("rpc.method", "SendMessage")], "send"),
        ("ünïcode publish", [("messaging.system", "kafka")], "send"),
        # Dapr's sidecar: API paths, not "{operation} {destination}"
        ("pubsub/orders", [("messaging.system", "pubsub"),
                           ("messaging.destination.name", "orders")], "receive"),
        ("/v1.0/publish/pubsub/orders", [("messaging.system", "pubsub")], "send"),
        ("/dapr.proto.runtime.v1.Dapr/PublishEvent", [("messaging.system", "pubsub")], "send"),
        ("pubsub/orders", [("messaging.system", "kafka")], None),
        # a messaging span of an AWS call without its method: the name, and the queue URL
        ("q publish", [("messaging.system", "aws_sqs"), ("rpc.system", "aws-api"),
                       ("rpc.service", "SQS"), ("aws.queue_url", "https://sqs/1/q")], "send"),
        # .NET's AWS SDK instrumentation: an RPC span, no messaging attribute at all
        ("SQS.SendMessage", [("rpc.system", "aws-api"), ("rpc.service", "SQS"),
                             ("rpc.method", "SendMessage"),
                             ("aws.queue_url", "https://sqs.eu-west-1.amazonaws.com/1/orders")],
         "send"),
        ("SQS.GetQueueUrl", [("rpc.system", "aws-api"), ("rpc.service", "SQS"),
                             ("rpc.method", "GetQueueUrl")], None),
        ("SQS.ReceiveMessage", [("rpc.system", "aws-api"), ("rpc.service", "SQS"),
                                ("rpc.method", "ReceiveMessage")], None),
        ("Sns.Publish", [("rpc.system", "aws-api"), ("rpc.service", "Sns"),
                         ("rpc.method", "Publish")], "send"),
        ("DynamoDB.PutItem", [("rpc.system", "aws-api"), ("rpc.service", "DynamoDB"),
                              ("rpc.method", "PutItem")], None),
        ("Publish", [("rpc.system", "grpc"), ("rpc.service", "SQS"),
                     ("rpc.method", "Publish")], None),
    ]
    body = _spans_request([(name, 0, attrs) for name, attrs, _ in cases])
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    assert spans.column("msg_operation_type").to_pylist() == [c[2] for c in cases]
    # the bare AWS calls that send are SQS / SNS messaging, the queue named by its URL
    systems = spans.column("msg_system").to_pylist()
    dests = spans.column("msg_destination").to_pylist()
    assert (systems[-6], dests[-6]) == ("aws_sqs", "orders")
    assert (systems[-3], dests[-3]) == ("aws_sns", None)
    assert systems[-5] is None and systems[-4] is None  # GetQueueUrl, a bare receive
    assert systems[-2] is None and systems[-1] is None
    assert (systems[-7], dests[-7]) == ("aws_sqs", "q")


def test_systems_implied_by_brave_and_spring_amqp_keys():
    """Brave (through the collector's zipkin receiver) names a destination only by its own
    tags and no messaging system: the tag says the system; a consumer's exchange wins over
    its queue unless it is the default one (''); messaging.* keys win over Brave's."""
    cases = [  # (name, kind, attributes, (system, destination))
        ("send", 4, [("kafka.topic", "orders"), ("peer.service", "kafka")],
         ("kafka", "orders")),
        ("next-message", 5, [("rabbit.exchange", "shop"), ("rabbit.routing_key", "o.c"),
                             ("rabbit.queue", "billing")], ("rabbitmq", "shop")),
        # the default exchange: the queue names it
        ("next-message", 5, [("rabbit.exchange", ""), ("rabbit.routing_key", "billing"),
                             ("rabbit.queue", "billing")], ("rabbitmq", "billing")),
        ("next-message", 5, [("rabbit.exchange", "")], (None, None)),
        ("send", 4, [("jms.queue", "orders")], ("jms", "orders")),
        ("receive", 5, [("jms.topic", "prices")], ("jms", "prices")),
        ("publish", 4, [("peer.service", "rabbitmq")], (None, None)),
        ("send", 4, [("kafka.topic", "orders"), ("messaging.system", "redpanda")],
         ("redpanda", "orders")),
        ("send", 4, [("kafka.topic", "x"), ("messaging.destination.name", "orders")],
         (None, "orders")),
        # Spring AMQP's Micrometer observations: the exchange ('' the default one) and the
        # routing key, no system; a RabbitMQ-only key says the system
        (" send", 4, [("messaging.destination.name", ""),
                      ("messaging.rabbitmq.destination.routing_key", "billing")],
         ("rabbitmq", "")),
        ("x receive", 5, [("messaging.destination.name", "x"),
                          ("messaging.rabbitmq.destination.routing_key", "k")],
         ("rabbitmq", "x")),
        ("y", 1, [("messaging.rabbitmq.destination.routing_key", "k")], (None, None)),
    ]
    body = _spans_request([(name, kind, attrs) for name, kind, attrs, _ in cases])
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    got = list(zip(spans.column("msg_system").to_pylist(),
                   spans.column("msg_destination").to_pylist()))
    assert got == [c[3] for c in cases]


def test_rabbitmq_composed_destination_names():
    """Conventions 1.27+ compose a RabbitMQ destination: a publish 'exchange:key', a delivery
    'exchange:key:queue' (or 'key:queue' from the default exchange, 'exchange:key' when the
    key is the queue). Both decoders store the exchange of a publish and the queue of a
    delivery; a name that is no composition with the span's routing key stays as it is.
    Older conventions name the default exchange alone (''): its delivery's queue is its
    routing key."""
    rk = "messaging.rabbitmq.destination.routing_key"
    mq = ("messaging.system", "rabbitmq")
    cases = [  # (name, kind, attributes, destination)
        ("publish orders:o.c", 4, [mq, ("messaging.destination.name", "orders:o.c"),
                                   (rk, "o.c")], "orders"),
        ("consume orders:o.c:billing", 5, [mq, ("messaging.destination.name",
                                                "orders:o.c:billing"), (rk, "o.c")],
         "billing"),
        ("consume o.c:billing", 5, [mq, ("messaging.destination.name", "o.c:billing"),
                                    (rk, "o.c")], "billing"),
        ("consume orders:emails", 5, [mq, ("messaging.destination.name", "orders:emails"),
                                      (rk, "emails")], "emails"),
        # a CLIENT receive is a delivery too (its operation says so); the legacy key counts
        ("receive x:k:q", 3, [mq, ("messaging.operation.type", "receive"),
                              ("messaging.destination.name", "x:k:q"),
                              ("messaging.rabbitmq.routing_key", "k")], "q"),
        ("publish emails", 4, [mq, ("messaging.destination.name", "emails"),
                               (rk, "emails")], "emails"),
        # a routing key with a colon, published through the default exchange: the key
        ("publish user:created", 4, [mq, ("messaging.destination.name", "user:created"),
                                     (rk, "user:created")], "user:created"),
        # an exchange named with a colon (older conventions name the exchange alone)
        ("publish", 4, [mq, ("messaging.destination.name", "app:events"), (rk, "o.c")],
         "app:events"),
        ("publish", 4, [mq, ("messaging.destination.name", "app:events")], "app:events"),
        # another system's name with a colon is not RabbitMQ's
        ("send", 4, [("messaging.system", "kafka"), ("messaging.destination.name", "a:k"),
                     (rk, "k")], "a:k"),
        # the system implied by the routing key (Spring AMQP's Micrometer spans), and the
        # newest registry's name of that key
        ("send", 4, [("messaging.destination.name", "orders:o.c"), (rk, "o.c")], "orders"),
        ("process", 5, [("messaging.destination.name", "orders:o.c:q"),
                        ("rabbitmq.destination.routing_key", "o.c")], "q"),
        # The default exchange ('', the Java agent's '<default>', 'amq.default') routes to
        # the queue its routing key names: a delivery from it is from that queue (amqplib's
        # legacy keys, a CLIENT receive); a publish to it stays a publish to the exchange,
        # unless to a reply queue the broker named; without a routing key it is the exchange
        ("orders_queue process", 5, [mq, ("messaging.destination", ""),
                                     ("messaging.rabbitmq.routing_key", "orders_queue"),
                                     ("messaging.operation", "process")], "orders_queue"),
        ("emails process", 5, [mq, ("messaging.destination.name", "<default>"),
                               (rk, "emails")], "emails"),
        ("receive", 3, [mq, ("messaging.operation.type", "receive"),
                        ("messaging.destination.name", "amq.default"), (rk, "emails")],
         "emails"),
        ("publish <default>", 4, [mq, ("messaging.destination", ""),
                                  ("messaging.rabbitmq.routing_key", "orders_queue")], ""),
        ("publish <default>", 4, [mq, ("messaging.destination", ""),
                                  ("messaging.rabbitmq.routing_key", "amq.gen-x1")],
         "(temporary)"),  # (a reply queue the server named: collector/reply_names.py)
        ("process", 5, [mq, ("messaging.destination", "")], ""),
    ]
    body = _spans_request([(name, kind, attrs) for name, kind, attrs, _ in cases])
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    assert spans.column("msg_destination").to_pylist() == [c[3] for c in cases]


def test_kafka_offsets_as_message_ids_are_qualified_by_their_partition():
    """otelsarama gives a record's offset as its message id: unique only in its partition.
    Both decoders store '<partition>/<offset>' when the span names its partition (any of
    the conventions' keys) and the id is all digits; any other id stays as it is."""
    k = ("messaging.system", "kafka")
    cases = [  # (name, kind, attributes, message id)
        ("orders publish", 4, [k, ("messaging.message.id", "1041"),
                               ("messaging.kafka.destination.partition", 1)], "1/1041"),
        ("orders receive", 5, [k, ("messaging.message.id", "1041"),
                               ("messaging.kafka.source.partition", 1)], "1/1041"),
        ("kafka.consume", 5, [k, ("messaging.message_id", 1041),
                              ("messaging.kafka.partition", 0)], "0/1041"),
        ("process orders", 5, [("messaging.system", "Kafka"), ("messaging.message.id", "7"),
                               ("messaging.destination.partition.id", "3")], "3/7"),
        ("send orders", 4, [k, ("messaging.message.id", "a7f3-11"),
                            ("messaging.destination.partition.id", "3")], "a7f3-11"),
        ("send orders", 4, [k, ("messaging.message.id", "1041")], "1041"),
        ("send orders", 4, [("messaging.system", "rabbitmq"), ("messaging.message.id", "5"),
                            ("messaging.kafka.partition", 0)], "5"),
    ]
    body = _spans_request([(name, kind, attrs) for name, kind, attrs, _ in cases])
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    assert spans.column("msg_message_id").to_pylist() == [c[3] for c in cases]


def test_kinesis_put_record_is_a_publish_to_its_stream():
    """An AWS SDK PutRecord(s) call names its stream only in aws.* keys (three spellings):
    a send to that stream; GetRecords names none and stays a call."""
    aws = [("rpc.system", "aws-api"), ("rpc.service", "Kinesis")]
    cases = [  # (name, kind, attributes, (system, destination, operation))
        ("Kinesis.PutRecord", 3, aws + [("rpc.method", "PutRecord"),
                                        ("aws.stream.name", "orders")],
         ("aws_kinesis", "orders", "send")),
        ("Kinesis.PutRecord", 3, aws + [("rpc.method", "PutRecord"),
                                        ("aws.kinesis.stream_name", "orders")],
         ("aws_kinesis", "orders", "send")),
        ("Kinesis.PutRecords", 3, aws + [("rpc.method", "PutRecords"),
                                         ("aws.kinesis.stream.name", "orders")],
         ("aws_kinesis", "orders", "send")),
        ("Kinesis.GetRecords", 3, aws + [("rpc.method", "GetRecords")], (None, None, None)),
    ]
    body = _spans_request([(name, kind, attrs) for name, kind, attrs, _ in cases])
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    got = list(zip(*(spans.column(c).to_pylist()
                     for c in ("msg_system", "msg_destination", "msg_operation_type"))))
    assert got == [c[3] for c in cases]


def test_service_name_of_a_resource_that_does_not_know_it():
    """An SDK not told its service's name says unknown_service[:<language>]: the workload a
    resource detector names (k8s deployment, function, container) is the service then."""
    from tests.otlp_fixtures import av
    cases = [  # (resource attributes, service stored)
        ([("service.name", "orders")], "orders"),
        ([("service.name", "orders"), ("k8s.deployment.name", "orders-v2")], "orders"),
        ([("service.name", "unknown_service:java"), ("k8s.deployment.name", "billing")],
         "billing"),
        ([("k8s.pod.name", "billing-7d9f-x2"), ("container.name", "billing-api")],
         "billing-api"),
        ([("service.name", "unknown_service"), ("faas.name", "resize-image"),
          ("container.name", "c")], "resize-image"),
        ([("service.name", "unknown_service:python"), ("k8s.deployment.name", 7)],
         "unknown_service:python"),
        ([("service.name", "")], "unknown_service"),
        ([], "unknown_service"),
    ]
    req = ExportTraceServiceRequest()
    for i, (attrs, _) in enumerate(cases):
        rs = req.resource_spans.add()
        for k, v in attrs:
            kv = rs.resource.attributes.add()
            kv.key = k
            kv.value.CopyFrom(av(v))
        s = rs.scope_spans.add().spans.add()
        s.trace_id = bytes([i + 1]) * 16
        s.span_id = bytes([i + 1]) * 8
        s.name = "work"
        s.start_time_unix_nano = s.end_time_unix_nano = NOW
    body = req.SerializeToString()
    assert_same(body)
    got = decode_request(parse_request(body), NOW).spans.column("service_name").to_pylist()
    assert got == [c[1] for c in cases]


def test_operation_from_names_of_every_shape():
    """The compiled decoder reads a name's operation without making a str of it: the same
    as the reference for any spacing, case, non-ASCII text or control character."""
    from tests.otlp_fixtures import av
    words = ["send", "SEND", "publish", "Receive", "process", "deliver", "settle", "create",
             "orders", "créate", "pröcess", "sends", "proc", "", "x\x1cprocess", "\u2003send"]
    spaces = [" ", "  ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1c", "\u00a0", "\u2003"]
    rng = random.Random(5)
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(400):
        parts = [rng.choice(words) for _ in range(rng.randint(0, 3))]
        name = rng.choice(["", " ", "\t"]) + "".join(
            p + rng.choice(spaces) for p in parts).rstrip(rng.choice(["", " "]))
        s = ss.spans.add()
        s.trace_id = (i + 1).to_bytes(16, "big")
        s.span_id = (i + 1).to_bytes(8, "big")
        s.name = name
        s.start_time_unix_nano = s.end_time_unix_nano = NOW
        kv = s.attributes.add()
        kv.key = "messaging.system"
        kv.value.CopyFrom(av("kafka"))
    body = req.SerializeToString()
    assert_same(body)
    ops = decode_request(parse_request(body), NOW).spans.column("msg_operation_type")
    assert {"send", "receive", "process", "settle", "create", None} >= set(ops.to_pylist())
    assert len(set(ops.to_pylist())) >= 5  # the names did give operations


def test_client_span_naming_its_server_only_in_its_url():
    """Older HTTP client instrumentation gives http.url and no net.peer.name: the URL's host
    is the peer (only for CLIENT spans and spans of a messaging system, only when no
    server.address / net.peer.name)."""
    cases = [  # (kind, attributes, server_address stored)
        (3, [("http.url", "https://API.Stripe.com:443/v1/charges?x=1")], "api.stripe.com"),
        (3, [("url.full", "http://[::1]:8080/x"), ("http.url", "http://old/")], "::1"),
        (3, [("url.full", "http://[::1/x")], None),               # malformed
        (3, [("url.full", 7), ("http.url", "http://old/")], None),   # the current key wins
        (3, [("http.url", "/relative/path")], None),
        (3, [("http.url", "http://a/"), ("net.peer.name", "b")], "b"),
        (2, [("http.url", "http://server-side/")], None),          # a SERVER span
        (3, [("http.url", "http://first/"), ("http.url", "http://last/")], "last"),
        # a messaging span names its broker by a URL (Node's AWS SDK spans): its host, too
        (4, [("messaging.system", "aws_sqs"), ("url.full", "https://sqs.x.com/1/orders")],
         "sqs.x.com"),
        (5, [("messaging.system", "aws.sqs"), ("messaging.url", "https://sqs.x.com/1/q")],
         "sqs.x.com"),
        (4, [("messaging.destination", "q"), ("messaging.url", "amqp://u:p@rabbit:5672")],
         "rabbit"),
        (5, [("messaging.system", "kafka"), ("messaging.url", '["kafka:9092"]')], None),
        (4, [("messaging.system", "aws_sqs"), ("http.url", "https://sqs.x.com/")], None),
        (3, [("messaging.system", "aws.sqs"), ("messaging.url", "https://sqs.y.com/1/q")],
         "sqs.y.com"),
        (4, [("url.full", "https://no-messaging/")], None),       # a span of no system
    ]
    body = _spans_request([("GET", kind, attrs) for kind, attrs, _ in cases])
    assert_same(body)
    got = decode_request(parse_request(body), NOW).spans.column("server_address").to_pylist()
    assert got == [c[2] for c in cases]


def test_span_naming_itself_as_its_parent_has_none():
    """Broken instrumentation may give a span its own id as parent: stored as a root (it
    would otherwise be nested in itself, and a consumer so nested is no delivery)."""
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i, parent in enumerate((b"\x07" * 8, b"\x01" * 8, b"\x00" * 8)):
        s = ss.spans.add()
        s.trace_id = b"\x09" * 16
        s.span_id = b"\x07" * 8 if i == 0 else bytes([i + 2]) * 8
        s.parent_span_id = parent
        s.name = "span"
        s.start_time_unix_nano = s.end_time_unix_nano = NOW
    body = req.SerializeToString()
    assert_same(body)
    spans = decode_request(parse_request(body), NOW).spans
    assert spans.column("parent_span_id").to_pylist() == [None, "01" * 8, None]


def test_names_sent_as_bytes_are_their_text():
    """FastStream's Redis instrumentation names a consumer's channel by the bytes Redis gave
    it: the destination column holds the name (UTF-8), as its publisher's text does, and
    bytes that are no UTF-8 stay base64, as in the attributes' JSON."""
    body = _spans_request([
        ("process", 5, [("messaging.system", "redis"),
                        ("messaging.destination_publish.name", dest),
                        ("messaging.batch.message_count", batch)])
        for dest, batch in [(b"orders", b"3"), (b"\xff\xfe", b"x")]])
    assert_same(body)
    for batch in (decode_request(parse_request(body), NOW),
                  fastdecode.decode_bytes(body, NOW)):
        spans = batch.spans
        assert spans.column("msg_destination").to_pylist() == ["orders", "//4="]
        assert spans.column("msg_batch_count").to_pylist() == [3, None]
        assert [json.loads(a)["messaging.destination_publish.name"]
                for a in spans.column("attributes").to_pylist()] == ["b3JkZXJz", "//4="]


def test_taskiq_spans_name_their_task():
    """Taskiq's middleware names no messaging system or destination: a span named
    "<taskiq.action>/<taskiq.task_name>" is its kick ("send") or run ("execute") of that
    task, the task's name its destination; any other span keeps what it names."""
    cases = [
        ("send/charge", [("taskiq.action", "send"), ("taskiq.task_name", "charge"),
                         ("messaging.message.id", "t1")]),
        ("execute/charge", [("taskiq.action", "execute"), ("taskiq.task_name", "charge")]),
        ("send/charge", [("taskiq.action", "send"), ("taskiq.task_name", "refund")]),
        ("execute/charge", [("taskiq.task_name", "charge")]),
        ("send/charge", [("taskiq.action", "send"), ("taskiq.task_name", "charge"),
                         ("messaging.system", "redis")]),
        ("send/x", []),
    ]
    body = _spans_request([(name, 1, attrs) for name, attrs in cases])
    assert_same(body)
    spans = fastdecode.decode_bytes(body, NOW).spans
    got = list(zip(*(spans.column(c).to_pylist()
                     for c in ("msg_system", "msg_operation_type", "msg_destination"))))
    assert got == [("taskiq", "send", "charge"), ("taskiq", "process", "charge"),
                   (None, None, None), (None, None, None), ("redis", None, None),
                   (None, None, None)]


def test_arq_spans_are_a_send_and_its_delivery():
    """opentelemetry-instrumentation-arq names no messaging attribute: a span named by its
    arq.job.name with an arq.job.id is an enqueue (its arq.job.queue the destination) or,
    with arq.job.try, the job's run; the job id is the message id."""
    job = [("arq.job.name", "charge"), ("arq.job.id", "j1")]
    cases = [
        ("charge", 3, job + [("arq.job.queue", "arq:queue")]),
        ("charge", 2, job + [("arq.job.try", 1), ("arq.job.score", 17)]),
        ("charge", 3, [("arq.job.name", "charge")]),           # refused: nothing sent
        ("refund", 3, job + [("arq.job.queue", "arq:queue")]),  # another name
        ("charge", 3, job + [("arq.job.queue", "q"), ("messaging.system", "redis")]),
    ]
    body = _spans_request(cases)
    assert_same(body)
    spans = fastdecode.decode_bytes(body, NOW).spans
    got = list(zip(*(spans.column(c).to_pylist() for c in (
        "msg_system", "msg_operation_type", "msg_destination", "msg_message_id"))))
    assert got == [("arq", "send", "arq:queue", "j1"), ("arq", "process", None, "j1"),
                   (None, None, None, None), (None, None, None, None),
                   ("redis", None, None, None)]


def test_nameko_spans_name_their_exchange():
    """nameko-opentelemetry names no messaging attribute: an event's dispatch publishes to
    its nameko.events.exchange, a Publisher to its nameko.messaging.exchange (RabbitMQ's
    default exchange is amq.default); an event handler's or Consumer's entrypoint span
    receives from the exchange its queue is bound to in nameko.amqp.queues (kombu's repr),
    else from the queue. An RPC entrypoint names a queue too, and is no delivery."""
    queues = "['<unbound Queue evt-orders-order_created--billing.bill -> <unbound Exchange " \
             "orders.events(topic)> -> order_created>']"
    cases = [
        ("Dispatch event orders.order_created", 4,
         [("nameko.events.exchange", "orders.events"), ("nameko.events.event_type", "x")]),
        ("Publish to default-exchange", 4, [("nameko.messaging.exchange", "default-exchange")]),
        ("billing.bill", 5, [("entrypoint_type", "EventHandler"),
                             ("nameko.amqp.queues", queues)]),
        ("auditor.record", 5, [("entrypoint_type", "Consumer"), ("nameko.amqp.queues",
         '["<unbound Queue audit-log -> <unbound Exchange \'\'(direct)> -> audit-log>"]')]),
        ("orders.create", 2, [("entrypoint_type", "Rpc"), ("nameko.amqp.queues",
         "['<unbound Queue rpc-orders -> <unbound Exchange nameko-rpc(topic)> -> orders.*>']")]),
        ("billing.bill", 5, [("entrypoint_type", "EventHandler")]),
        ("Publish to audit", 4, [("nameko.events.exchange", "audit")]),  # (not a dispatch)
    ]
    body = _spans_request(cases)
    assert_same(body)
    spans = fastdecode.decode_bytes(body, NOW).spans
    got = list(zip(*(spans.column(c).to_pylist()
                     for c in ("msg_system", "msg_operation_type", "msg_destination"))))
    assert got == [("rabbitmq", "send", "orders.events"), ("rabbitmq", "send", "amq.default"),
                   ("rabbitmq", "process", "orders.events"),
                   ("rabbitmq", "process", "audit-log"),
                   (None, None, None), (None, None, None), (None, None, None)]


def test_a_crafted_nameko_queue_repr_is_read_in_linear_time():
    """nameko.amqp.queues is read with a pattern whose names are bounded (AMQP's 255 bytes)
    and on the value's first 4 KiB only: a crafted 1 MiB value of many queue-and-exchange
    openings, which made the first pattern quadratic (hours at this size), is decoded
    like any span, naming nothing."""
    crafted = "<Queue a -> <Exchange " * 48_000
    body = _spans_request([("billing.bill", 5, [("entrypoint_type", "EventHandler"),
                                                ("nameko.amqp.queues", crafted)])])
    assert_same(body)
    spans = fastdecode.decode_bytes(body, NOW).spans
    assert spans.column("msg_destination").to_pylist() == [None]


def test_remoulade_spans_name_their_actor():
    """opentelemetry-instrumentation-remoulade names no messaging system or destination: a
    span "remoulade/send" or "remoulade/process" (a retry's "...(retry-<n>)") with
    remoulade.actor_name is an enqueue or run of that actor, its destination."""
    actor = [("remoulade.actor_name", "charge_card"), ("messaging.message.id", "m1")]
    cases = [("remoulade/send", 4, actor), ("remoulade/process(retry-1)", 5, actor),
             ("remoulade/send(retry-2)", 4, actor), ("remoulade/process", 5, []),
             ("remoulade/enqueue", 4, actor)]
    body = _spans_request(cases)
    assert_same(body)
    spans = fastdecode.decode_bytes(body, NOW).spans
    got = list(zip(*(spans.column(c).to_pylist()
                     for c in ("msg_system", "msg_operation_type", "msg_destination"))))
    assert got == [("remoulade", "send", "charge_card"),
                   ("remoulade", "process", "charge_card"),
                   ("remoulade", "send", "charge_card"), (None, None, None),
                   (None, None, None)]


# Values of the keys the normalisation rules read, mixed at random on spans of messaging
# names: the combinations no library sends (an AWS SDK's rpc.* keys beside Kafka's or
# RabbitMQ's) are where the two decoders' orders of rules could part.
_RULE_VALUES: dict[str, list[Any]] = {
    "messaging.system": ["kafka", "rabbitmq", "redis", "aws_sqs", "pubsub", "", "nats"],
    "messaging.destination.name": ["orders", "", "_INBOX.kK9aB2c", "amq.gen-xyz",
                                   "amq_" + "a" * 32, "queue://QM1/AMQ.5F3A",
                                   "arn:aws:sns:us-east-1:1:t", "ex:key:q", b"orders",
                                   b"\xff"],
    "messaging.destination": ["orders", ""],
    "messaging.operation": ["publish", "receive", "process", "deliver", "ack", "create"],
    "messaging.operation.type": ["send", "receive", "process", "settle"],
    "messaging.message.id": ["1", "17", "abc", "t.0.5"],
    "messaging.kafka.message.offset": [5, "7"],
    "messaging.destination.partition.id": ["0", 1, ""],
    "messaging.kafka.destination.partition": [2],
    "messaging.rabbitmq.destination.routing_key": ["order.placed", "q1", ""],
    "messaging.batch.message_count": [0, 3, b"2"],
    "rpc.service": ["SQS", "SNS", "S3"], "rpc.system": ["aws-api"],
    "rpc.method": ["SendMessage", "ReceiveMessage", "GetQueueUrl"],
    "aws.queue_url": ["https://sqs.x/1/q"],
    "url.full": ["https://t.westus-1.eventgrid.azure.net/api/events", "http://a/b"],
    "peer.service": ["kafka", "billing"], "server.address": ["broker", ""],
    "db.system": ["redis"], "messaging.url": ["amqp://h:5672"],
    "nameko.events.exchange": ["o.events"], "entrypoint_type": ["EventHandler"],
    "nameko.amqp.queues": ["['<unbound Queue q -> <unbound Exchange e(topic)> -> k>']"],
    "remoulade.actor_name": ["a"], "taskiq.action": ["send"], "taskiq.task_name": ["t"],
    "arq.job.name": ["charge"], "arq.job.id": ["j"], "arq.job.try": [1],
    "message_id": ["m"], "queue_name": ["q"], "actor_name": ["a"],
}
_RULE_NAMES = ["orders publish", "orders process", "receive", "send", "settle", "ack",
               "remoulade/send", "Dispatch event a.b", "Publish to x", "charge",
               "dramatiq.producer.x", "send/t", "EventGridPublisherClient.Send",
               "SQS.SendMessage", "_INBOX.abc publish", "pubsub/orders", "x"]


def test_random_mixes_of_rule_keys_decode_alike():
    """Both decoders give every span the same columns, whatever mix of the keys their rules
    read it carries (a Kafka offset beside an AWS SDK's rpc.service, a RabbitMQ default
    exchange beside them, a library's own message id beside the conventions' ...): 2,000
    spans from a fixed seed. (The first run found three such mixes where they parted.)"""
    rng = random.Random(18)
    keys = list(_RULE_VALUES)
    for _ in range(100):
        body = _spans_request([
            (rng.choice(_RULE_NAMES), rng.randint(1, 5),
             [(k, rng.choice(_RULE_VALUES[k])) for k in rng.sample(keys, rng.randint(0, 6))])
            for _ in range(20)])
        assert_same(body)
