"""Load benchmark: `choreoscope load`'s spans/s by file shape and format.

    .venv/bin/python bench/load.py [--spans 100000] [--runs 3]

Makes the same spans (realistic 1,000-span exports, 8 spans a trace) into files of several
shapes: OTLP/JSON Lines of 1,000 spans a line (an SDK's or Collector's batches), of one
trace a line (a file exporter on a quiet system, a script writing a line per trace),
length-delimited protobuf of one trace a record, Jaeger's API JSON (one trace each) and
Zipkin's v2 JSON. Loads each into a fresh store in this process (no decode workers: the
files are below their size) and prints the median spans/s, with the spans stored checked
against the spans written.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)

from bench.common import realistic_request  # noqa: E402
from choreoscope.store import Store  # noqa: E402
from collector.load import load_files  # noqa: E402
from collector.otlp_json import parse_json_request, request_to_json_dict  # noqa: E402


def _per_trace(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """An OTLP/JSON request split into one request per trace."""
    out: dict[str, dict[str, Any]] = {}
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                req = out.setdefault(sp["traceId"], {"resourceSpans": [{
                    "resource": rs.get("resource", {}), "schemaUrl": rs.get("schemaUrl", ""),
                    "scopeSpans": [{"scope": ss.get("scope", {}), "spans": []}]}]})
                req["resourceSpans"][0]["scopeSpans"][0]["spans"].append(sp)
    return list(out.values())


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    return int(v.get("intValue", 0))


def _jaeger(doc: dict[str, Any]) -> dict[str, Any]:
    """One trace's OTLP/JSON request as Jaeger's API gives it."""
    kinds = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
    types = {str: "string", bool: "bool", int: "int64", float: "float64"}
    rs = doc["resourceSpans"][0]
    attrs = {a["key"]: _value(a["value"]) for a in rs["resource"]["attributes"]}
    spans = []
    for sp in rs["scopeSpans"][0]["spans"]:
        tags = [{"key": a["key"], "type": types[type(_value(a["value"]))],
                 "value": _value(a["value"])} for a in sp.get("attributes", [])]
        tags.append({"key": "span.kind", "type": "string", "value": kinds.get(sp.get("kind"),
                                                                             "internal")})
        refs = [{"refType": "CHILD_OF", "traceID": sp["traceId"],
                 "spanID": sp["parentSpanId"]}] if sp.get("parentSpanId") else []
        refs += [{"refType": "FOLLOWS_FROM", "traceID": ln["traceId"], "spanID": ln["spanId"]}
                 for ln in sp.get("links", [])]
        start = int(sp["startTimeUnixNano"]) // 1000
        spans.append({"traceID": sp["traceId"], "spanID": sp["spanId"],
                      "operationName": sp["name"], "references": refs, "startTime": start,
                      "duration": int(sp["endTimeUnixNano"]) // 1000 - start, "tags": tags,
                      "logs": [{"timestamp": int(e["timeUnixNano"]) // 1000, "fields": [
                          {"key": "event", "type": "string", "value": e["name"]}]}
                          for e in sp.get("events", [])], "processID": "p1"})
    return {"traceID": spans[0]["traceID"], "spans": spans, "processes": {"p1": {
        "serviceName": attrs.pop("service.name"),
        "tags": [{"key": k, "type": types[type(v)], "value": v} for k, v in attrs.items()]}}}


def _zipkin(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One trace's OTLP/JSON request as Zipkin v2 spans."""
    kinds = {2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
    rs = doc["resourceSpans"][0]
    service = next(_value(a["value"]) for a in rs["resource"]["attributes"]
                   if a["key"] == "service.name")
    out = []
    for sp in rs["scopeSpans"][0]["spans"]:
        start = int(sp["startTimeUnixNano"]) // 1000
        z = {"traceId": sp["traceId"], "id": sp["spanId"], "name": sp["name"],
             "timestamp": start, "duration": int(sp["endTimeUnixNano"]) // 1000 - start,
             "localEndpoint": {"serviceName": service},
             "tags": {a["key"]: str(_value(a["value"])) for a in sp.get("attributes", [])}}
        if sp.get("parentSpanId"):
            z["parentId"] = sp["parentSpanId"]
        if sp.get("kind") in kinds:
            z["kind"] = kinds[sp["kind"]]
        out.append(z)
    return out


def make_files(n_spans: int, out: Path) -> dict[str, Path]:
    rng = random.Random(7)
    now = time.time_ns()
    reqs = [ExportTraceServiceRequest.FromString(realistic_request(1000, rng, now))
            for _ in range(max(1, n_spans // 1000))]
    docs = [request_to_json_dict(r) for r in reqs]
    traces = [t for d in docs for t in _per_trace(d)]
    files = {
        "OTLP/JSON Lines, 1,000 spans a line": (b"\n".join(orjson.dumps(d) for d in docs)),
        "OTLP/JSON Lines, a trace a line": b"\n".join(orjson.dumps(t) for t in traces),
        "OTLP protobuf, a trace a record": b"".join(
            len(b := parse_json_request(t).SerializeToString()).to_bytes(4, "big") + b
            for t in traces),
        "Jaeger API JSON": orjson.dumps({"data": [_jaeger(t) for t in traces]}),
        "Zipkin v2 JSON": orjson.dumps([z for t in traces for z in _zipkin(t)]),
    }
    paths = {}
    for i, (name, body) in enumerate(files.items()):
        p = out / f"f{i}.{'bin' if 'protobuf' in name else 'json'}"
        p.write_bytes(body + (b"\n" if "Lines" in name else b""))
        paths[name] = p
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="choreoscope-bench-load-"))
    try:
        paths = make_files(args.spans, tmp)
        print(f"{'file':40} {'MB':>7} {'records':>8} {'spans':>8} {'median s':>9} "
              f"{'spans/s':>9}")
        print("-" * 86)
        for name, path in paths.items():
            times, summary = [], None
            for run in range(args.runs):
                db = tmp / f"run{run}.duckdb"
                with Store.open(str(db)) as store:
                    t0 = time.perf_counter()
                    summary = load_files(store, [path], progress=False, workers=0)
                    times.append(time.perf_counter() - t0)
                db.unlink()
            assert summary is not None and not summary.bad_records, summary.bad_records
            med = statistics.median(times)
            print(f"{name:40} {path.stat().st_size / 1e6:7.1f} {summary.records:8d} "
                  f"{summary.stored:8d} {med:9.2f} {summary.stored / med:9.0f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
