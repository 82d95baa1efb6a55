"""OTLP/JSON parsing: the fast reader of the usual form gives exactly the message protobuf's
``ParseDict`` gives, and steps aside for every other form, valid or not."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from collector.decode import DecodeFailure
from collector.otlp_json import _convert_ids, _fast_request, _Unusual, parse_json_request

SAMPLES = Path(__file__).resolve().parent.parent / "sample_traces" / "data"


def slow(doc: dict[str, Any]) -> ExportTraceServiceRequest:
    """What ParseDict makes of the document (the reference)."""
    doc = copy.deepcopy(doc)
    _convert_ids(doc)
    msg = ExportTraceServiceRequest()
    json_format.ParseDict(doc, msg, ignore_unknown_fields=True)
    return msg


def fast_or_none(doc: dict[str, Any]) -> ExportTraceServiceRequest | None:
    before = copy.deepcopy(doc)
    try:
        return _fast_request(doc)
    except (_Unusual, ValueError, TypeError, AttributeError, RecursionError):
        return None
    finally:
        assert doc == before  # (the fallback reads the same document)


@pytest.mark.parametrize("name", ["choreography", "orchestration", "hybrid"])
def test_the_samples_read_fast_as_parsedict_reads_them(name: str):
    lines = [line for line in (SAMPLES / f"{name}.jsonl").read_bytes().splitlines()
             if line.strip()]
    for line in lines:
        doc = orjson.loads(line)
        got = fast_or_none(doc)
        assert got is not None  # (the usual form: no fallback)
        assert got == slow(doc)
        assert got.SerializeToString(deterministic=True) == \
            slow(doc).SerializeToString(deterministic=True)


def _doc(span: dict[str, Any] | None = None, **rs: Any) -> dict[str, Any]:
    base = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
            "name": "send", "kind": 4, "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000000001000"}
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "shop"}}]},
        "scopeSpans": [{"scope": {"name": "lib"}, "spans": [{**base, **(span or {})}]}],
        **rs}]}


# Forms every exporter may send, read fast and the same as ParseDict reads them.
USUAL = [
    {},
    {"parentSpanId": ""},
    {"parentSpanId": "00f067aa0ba902b7", "traceState": "k=v", "flags": 257},
    {"startTimeUnixNano": 1700000000000000000},  # a number, not a string
    {"attributes": [
        {"key": "i", "value": {"intValue": "-42"}}, {"key": "n", "value": {"intValue": 7}},
        {"key": "d", "value": {"doubleValue": 1.5}}, {"key": "w", "value": {"doubleValue": 2}},
        {"key": "b", "value": {"boolValue": False}}, {"key": "e", "value": {}},
        {"key": "none"},
        {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"},
                                                         {"intValue": "1"}]}}},
        {"key": "ea", "value": {"arrayValue": {}}},
        {"key": "kv", "value": {"kvlistValue": {"values": [
            {"key": "in", "value": {"kvlistValue": {"values": []}}}]}}}]},
    {"events": [{"timeUnixNano": "1700000000000000500", "name": "exception",
                 "attributes": [{"key": "exception.type", "value": {"stringValue": "E"}}],
                 "droppedAttributesCount": 1}]},
    {"links": [{"traceId": "1af7651916cd43dd8448eb211c80319c",
                "spanId": "c7ad6b7169203331", "traceState": "", "flags": 1,
                "attributes": [{"key": "messaging.message.id",
                                "value": {"stringValue": "m"}}]}]},
    {"status": {}}, {"status": {"code": 2, "message": "boom"}},
    {"droppedAttributesCount": 3, "droppedEventsCount": 1, "droppedLinksCount": 2},
    {"traceId": "0af7651916cd43dd"},  # (a short id: the decoder rejects that span alone)
    {"kind": 9},  # (an unknown kind number: kept, as ParseDict keeps it)
]


@pytest.mark.parametrize("span", USUAL, ids=range(len(USUAL)))
def test_usual_forms_read_fast_and_the_same(span: dict[str, Any]):
    doc = _doc(span, schemaUrl="https://opentelemetry.io/schemas/1.26.0")
    got = fast_or_none(doc)
    assert got is not None
    assert got == slow(doc)
    assert parse_json_request(orjson.dumps(doc)) == got


# Valid forms the fast reader leaves to ParseDict, which reads them.
UNUSUAL = [
    {"kind": "SPAN_KIND_PRODUCER"},
    {"status": {"code": "STATUS_CODE_ERROR"}},
    {"trace_id": "0af7651916cd43dd8448eb211c80319c"},  # snake_case
    {"attributes": [{"key": "raw", "value": {"bytesValue": "aGk="}}]},
    {"attributes": [{"key": "nan", "value": {"doubleValue": "NaN"}}]},
    {"someFutureField": 1},
    {"name": None},
    {"kind": True},  # (ParseDict reads it as 1)
]


@pytest.mark.parametrize("span", UNUSUAL, ids=range(len(UNUSUAL)))
def test_other_valid_forms_go_to_parsedict(span: dict[str, Any]):
    doc = _doc(span)
    assert fast_or_none(doc) is None
    assert parse_json_request(orjson.dumps(doc)) == slow(doc)


# Invalid documents: the fast reader steps aside and the error is ParseDict's.
INVALID = [
    ({"flags": -1}, "invalid OTLP/JSON"),
    ({"startTimeUnixNano": "soon"}, "invalid OTLP/JSON"),
    ({"startTimeUnixNano": 1.5}, "invalid OTLP/JSON"),
    ({"attributes": [{"key": "i", "value": {"intValue": 1.5}}]}, "invalid OTLP/JSON"),
    ({"attributes": [{"key": "b", "value": {"boolValue": "yes"}}]}, "invalid OTLP/JSON"),
    ({"attributes": [{"key": "x", "value": {"stringValue": "a", "intValue": "1"}}]},
     "invalid OTLP/JSON"),
    ({"spanId": "zz"}, "not hex"),
    ({"attributes": "none"}, "invalid OTLP/JSON"),
]


@pytest.mark.parametrize("span,message", INVALID, ids=range(len(INVALID)))
def test_invalid_documents_get_parsedicts_error(span: dict[str, Any], message: str):
    doc = _doc(span)
    assert fast_or_none(doc) is None
    with pytest.raises(DecodeFailure, match=message):
        parse_json_request(orjson.dumps(doc))


def test_deep_nesting_is_refused_not_a_crash():
    value: dict[str, Any] = {"stringValue": "x"}
    for _ in range(250):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    doc = _doc({"attributes": [{"key": "deep", "value": value}]})
    with pytest.raises(_Unusual):  # (past its own limit, before Python's)
        _fast_request(doc)
    with pytest.raises(DecodeFailure, match="nested too deeply"):
        parse_json_request(doc)  # (as parsed: orjson itself stops at 255 levels)
