"""`analyze()`: the flow map, flows, critical paths, bottlenecks, styles and anomalies.

Everything per span is aggregated by DuckDB (see :mod:`analyzer.staging`); Python works on
per-edge and per-flow-type rows, and computes critical paths on a bounded sample of flow
instances per flow type (their shares are scaled to the type's count).
"""

from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import networkx as nx

from analyzer.critical_path import CriticalPath, critical_path
from analyzer.destinations import grouped_words
from analyzer.detail import staged_edge_detail
from analyzer import findings
from analyzer.flow_names import add_variants
from analyzer.model import Analysis, ids, ms, node_name, node_type, percentile, quantiles_ms
from analyzer.staging import Stager
from analyzer.style import classify
from choreoscope.sql import named_queries

# Critical paths are computed for this many pseudo-random instances of each flow type, plus
# its slowest ones; more barely moves the shares and costs Python time per span.
CP_PER_TYPE = 100
CP_SLOWEST = 5
# How long spans may take to reach the store after they end (SDKs' batch span processors
# export every 5 s by default, a Collector batches again): the deliveries of a window's
# last publishes may not have arrived yet (analyzer_unconsumed).
EXPORT_GRACE_NS = 30 * 10**9
# Queries that need nothing the critical paths compute: they run while Python walks them.
_BESIDE_CP = ("analyzer_error_hops", "analyzer_unconsumed", "analyzer_redeliveries",
              "analyzer_publish_lost")


def flow_type_id(signature: str) -> str:
    """Stable id of a flow type from its structure signature."""
    return "flow:" + hashlib.sha1(signature.encode()).hexdigest()[:10]


def analyze(store: Any, since_ns: int | None = None, until_ns: int | None = None,
            service: str | None = None, timings: dict[str, float] | None = None,
            log: list[tuple[str, float, float]] | None = None,
            now_ns: int | None = None) -> Analysis:
    """Analyse the spans that started in ``[since_ns, until_ns)`` (None: unbounded).

    ``service`` keeps only the flows that involve that service. ``timings`` (seconds per
    stage) and ``log`` ((stage, start, end) perf_counter times), when given, are filled for
    benchmarks. ``now_ns`` (default: the clock) is the present, where a window without an
    end stops: a publish too recent for its delivery to have arrived is pending, not
    unconsumed, and its flow still under way. A flow under way at either end of the window
    is in no flow type (``summary.flows_begun_before``, ``summary.flows_under_way``). An
    empty window gives an empty analysis.
    """
    tm = timings if timings is not None else {}
    t_all = time.perf_counter()
    with StagedWindow(store, since_ns, until_ns, tm, log) as window:
        a = window.analyze(service, tm, log, now_ns=now_ns)
    tm["total"] = time.perf_counter() - t_all
    a.timings = dict(tm)
    return a


class StagedWindow:
    """One window of a store, staged once and analysed for any service filter.

    The staging (every span stage, the trace -> flow map, the per-trace rows) is most of an
    analysis's time and does not depend on the service filter, so a caller switching
    between services of one window keeps it: each :meth:`analyze` narrows the staged tables
    inside a transaction it rolls back, leaving them as staged for the next. The tables live
    on a read session of the store (~0.3 GB per 1M spans) until :meth:`close`, or the
    store's. They hold the window as staged; how long that is recent enough is the
    caller's choice (``dashboard.cache.StagedWindows``). (The last stages also read a few
    things of the spans themselves, the services' span counts among them: on a store being
    written to, those may include spans newer than the staging, as they may within any one
    analysis of such a store.)
    """

    def __init__(self, store: Any, since_ns: int | None = None, until_ns: int | None = None,
                 timings: dict[str, float] | None = None,
                 log: list[tuple[str, float, float]] | None = None) -> None:
        self.since_ns, self.until_ns = since_ns, until_ns
        self.timings = timings if timings is not None else {}  # the staging's, per stage
        self._session = store.session()
        try:
            with self._session.use() as cur:
                self._stager = Stager(cur, named_queries(), self.timings, log)
                self._stager.stage_window(since_ns, until_ns)
        except BaseException:
            self._session.close()
            raise

    def analyze(self, service: str | None = None, timings: dict[str, float] | None = None,
                log: list[tuple[str, float, float]] | None = None,
                now_ns: int | None = None) -> Analysis:
        """The window's analysis, restricted to the flows touching ``service`` if given.
        ``timings``, ``log`` and ``now_ns`` as for :func:`analyze` (the stages after the
        staging)."""
        tm = timings if timings is not None else {}
        t = time.perf_counter()
        horizon, grace = _horizon(self.until_ns, time.time_ns() if now_ns is None else now_ns)
        with self._rolled_back(tm, log) as st:
            st.select(service, horizon, grace)
            a = _build(st, self.since_ns, self.until_ns, service, horizon, grace)
        tm.setdefault("total", time.perf_counter() - t)
        a.timings = dict(tm)
        return a

    def detail(self, element_id: str, service: str | None = None) -> dict[str, Any]:
        """One edge's detail (as :func:`analyzer.edge_detail` gives it) read from the staged
        tables, restricted to the flows touching ``service`` as :meth:`analyze` restricts
        them: the very hop instances the edge's statistics in the analysis aggregate, so a
        click on the map shows the map's own numbers. ``ValueError`` for no edge's id."""
        with self._rolled_back({}, None) as st:
            st.narrow(service)
            return staged_edge_detail(st.cur, st.q, element_id, self.since_ns, self.until_ns)

    @contextmanager
    def _rolled_back(self, timings: dict[str, float],
                     log: list[tuple[str, float, float]] | None) -> Iterator[Stager]:
        """The stager on the session's connection inside a transaction that is rolled back
        after the block: whatever the block narrows, the staged tables come back as staged."""
        with self._session.use() as cur:
            st = self._stager
            st.cur, st.timings, st.log = cur, timings, log
            cur.execute("BEGIN TRANSACTION")
            try:
                yield st
            finally:
                try:
                    cur.execute("ROLLBACK")
                except Exception:
                    # (interrupted as the store closes: nothing staged is trustworthy now)
                    self._session.close()
                    raise

    def close(self) -> None:
        """Free the staged tables. Idempotent."""
        self._session.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` (or the store's closing) has freed the staged tables."""
        return self._session.closed

    def __enter__(self) -> "StagedWindow":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _horizon(until_ns: int | None, now_ns: int) -> tuple[int, int]:
    """Where the window's spans stop, and how late spans ending just before may still
    arrive: a window running to the present ends there, and its last spans may be exported
    yet; one that ended earlier holds all it will."""
    if until_ns is None or until_ns > now_ns:
        return now_ns, EXPORT_GRACE_NS
    return until_ns, 0


def _build(st: Stager, since_ns: int | None, until_ns: int | None,
           service: str | None, horizon_ns: int, grace_ns: int) -> Analysis:
    summ = st.rows("analyzer_summary")[0]
    partial = st.rows("analyzer_partial_flows")[0]
    t0, t1 = summ["t0"], summ["t1"]
    if since_ns is not None and until_ns is not None:
        window_s = max((until_ns - since_ns) / 1e9, 1e-9)
    elif t0 is not None:
        window_s = max((t1 - t0) / 1e9, 1.0)
    else:
        window_s = 1.0
    a = Analysis()
    with st.section("edges_nodes"):
        # per delivery edge; the edges and the anomalies both read it
        st.run("analyzer_outside_none")
        evidence = st.rows("analyzer_consumer_evidence")
        if any(int(ev["no_ctx"]) > int(ev["stitched"]) for ev in evidence):
            # (deliveries joined to no producer: those naming a span the window does not
            # hold carried a context all the same)
            st.run("analyzer_outside")
            evidence = st.rows("analyzer_consumer_evidence")
        edges = _edges(st, window_s, evidence)
        nodes = _nodes(st, edges)
    cp_inputs = _flow_inputs(st)
    # DuckDB releases the GIL while it executes: the remaining queries run on the cursor in a
    # worker thread while this thread computes critical paths in pure Python (it does not touch
    # the cursor until the worker is done), so the two overlap instead of adding up.
    with st.section("graph"):
        a.graph = _graph(nodes, edges)
    with ThreadPoolExecutor(max_workers=1) as pool:
        params = {"analyzer_unconsumed": {"horizon": horizon_ns, "grace": grace_ns}}
        pending = {name: pool.submit(st.rows, name, params.get(name)) for name in _BESIDE_CP}
        through_rows = pool.submit(_through_topics, st, a.graph)
        flows, cp_hops, loops = _flows(st, edges, *cp_inputs)
        later = {name: f.result() for name, f in pending.items()}
        through = through_rows.result()
    findings.mark_lost_context(edges, a.graph, later["analyzer_publish_lost"])
    a.bottlenecks = findings.bottlenecks(cp_hops, edges, later["analyzer_error_hops"])
    a.anomalies = findings.anomalies(edges, a.graph, evidence, later["analyzer_unconsumed"],
                                     later["analyzer_redeliveries"], loops, through,
                                     later["analyzer_publish_lost"])
    a.nodes, a.edges, a.flows = nodes, edges, flows
    a.summary = {
        "span_count": int(summ["spans"] or 0), "trace_count": int(summ["traces"] or 0),
        "flow_instance_count": sum(f["count"] for f in flows), "flow_count": len(flows),
        # flows under way when the window began, or still under way at its end: not all
        # there, so in no flow type
        "flows_begun_before": int(partial["begun_before"] or 0),
        "flows_under_way": int(partial["under_way"] or 0),
        "start_ns": t0, "end_ns": t1,
        "duration_s": round((t1 - t0) / 1e9, 3) if t0 is not None else 0.0,
        "since_ns": since_ns, "until_ns": until_ns, "service": service,
        "node_count": len(nodes), "edge_count": len(edges),
    }
    return a


# ------------------------------------------------------------------------------- edges
def _edges(st: Stager, window_s: float,
           evidence_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    evidence = {r["id"]: r for r in evidence_rows}
    out = []
    for r in st.rows("analyzer_edge_stats"):
        n = int(r["n"])
        e: dict[str, Any] = {
            "id": r["id"], "source": r["src"], "target": r["dst"], "type": r["type"],
            "count": n, "error_count": int(r["errors"] or 0),
            "error_rate": round((r["errors"] or 0) / n, 4) if n else 0.0,
            **quantiles_ms(r["dq"]),
            "queue_p50_ms": None, "queue_p95_ms": None, "queue_p99_ms": None,
            "rate_per_s": round(n / window_s, 4),
            "broken_context_count": 0, "stitched_count": 0, "clock_skew_count": 0,
            "example_trace_ids": ids(r["slowest"]), "failed_trace_ids": ids(r["failed"]),
            "first_ns": r["t0"], "last_ns": r["t1"],
        }
        if r["type"] == "consume":
            q = r["qq"]
            if q is not None:
                e.update(quantiles_ms(q, "queue_"))
            # producer messages joined to these deliveries (a batch delivery joins several)
            e["message_count"] = int(r["pairs"] or 0)
            ev = evidence.get(r["id"])
            if ev is not None:
                outside = int(ev["outside"])
                # (outside: a delivery naming a parent or link the window does not hold)
                e["joined_by"] = {"context": n - int(ev["no_ctx"]) - outside,
                                  "message_id": int(ev["stitched"]),
                                  "none": int(ev["no_ctx"]) - int(ev["stitched"]),
                                  "outside": outside}
                if ev["topic_has_producers"]:
                    e["broken_context_count"] = int(ev["no_ctx"])
                e["stitched_count"] = int(ev["stitched"])
                e["clock_skew_count"] = int(ev["skew"])
                e["batch_deliveries"] = int(ev["batch_deliveries"])
                e["producer_seen"] = bool(ev["topic_has_producers"])
        elif r["type"] == "call":
            e["clock_skew_count"] = int(r["call_skew"] or 0)
        out.append(e)
    return out


def _nodes(st: Stager, edges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for r in st.rows("analyzer_services"):
        nid = "service:" + r["service"]
        nodes[nid] = {"id": nid, "type": "service", "name": r["service"],
                      "span_count": int(r["n"]), "error_count": int(r["errors"] or 0),
                      "trace_count": int(r["traces"]),
                      "failed_trace_ids": ids(r["failed"])}
    systems = {r["topic"]: r for r in st.rows("analyzer_topics")}
    for e in edges:
        for nid in (e["source"], e["target"]):
            if nid in nodes:
                continue
            typ, name = node_type(nid), node_name(nid)
            n: dict[str, Any] = {"id": nid, "type": typ, "name": name}
            if typ == "topic":
                r = systems.get(name)
                n["system"] = r["system"] if r else None
                if name in st.topic_members:
                    # (destinations named per entity, shown as one: analyzer.destinations)
                    n["destination_names"] = len(st.topic_members[name])
            nodes[nid] = n
    for e in edges:
        # (a queue whose spans name no system is of its broker: the one of the exchange or
        # topic routing into it, as MassTransit's receive spans name none)
        if e["type"] == "route" and nodes[e["target"]].get("system") is None:
            nodes[e["target"]]["system"] = nodes[e["source"]].get("system")
    for e in edges:  # traffic through each topic / external, for the map's labels
        for nid, key in ((e["source"], "out_count"), (e["target"], "in_count")):
            n = nodes[nid]
            n[key] = n.get(key, 0) + e["count"]
    return sorted(nodes.values(), key=lambda n: (n["type"], n["name"]))


def _graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> nx.DiGraph:
    g = nx.DiGraph()
    for n in nodes:
        g.add_node(n["id"], **{k: v for k, v in n.items() if k != "id"})
    for e in edges:
        g.add_edge(e["source"], e["target"],
                   **{k: v for k, v in e.items() if k not in ("source", "target")})
    return g


# ------------------------------------------------------------------------------- flows
FlowInputs = tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]],
                   dict[str, list[tuple]], dict[str, int],
                   dict[tuple[str, str], tuple[str, str]]]


def _flow_inputs(st: Stager) -> FlowInputs:
    """Flow types, and the spans and matches of the sampled instances by flow id, with each
    sampled flow's type and the sends that carried their created messages (everything the
    critical paths need from the database)."""
    types = st.rows("analyzer_flow_types")
    if not types:
        return [], {}, {}, {}, {}
    st.run("analyzer_cp_sample", {"per_type": CP_PER_TYPE, "slowest": CP_SLOWEST})
    spans_by_flow: dict[str, list[dict[str, Any]]] = {}
    res = st.run("analyzer_cp_spans")
    cols = [d[0] for d in res.description]
    for row in res.fetchall():
        d = dict(zip(cols, row))
        spans_by_flow.setdefault(d["flow_id"], []).append(d)
    matches: dict[str, list[tuple]] = {}
    trace_flow = {s["trace_id"]: f for f, ss in spans_by_flow.items() for s in ss}
    for m in st.run("analyzer_cp_matches").fetchall():
        f = trace_flow.get(m[0])
        if f is not None:
            matches.setdefault(f, []).append(m)
    sig_of = dict(st.run("analyzer_cp_sample_list").fetchall())
    return types, spans_by_flow, matches, sig_of, st.carriers("analyzer_cp_carriers")


def _flows(st: Stager, edges: list[dict[str, Any]], types: list[dict[str, Any]],
           spans_by_flow: dict[str, list[dict[str, Any]]], matches: dict[str, list[tuple]],
           sig_of: dict[str, int], carriers: dict[tuple[str, str], tuple[str, str]]
           ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], dict[str, Any]],
                      list[tuple[frozenset[str], float]]]:
    """Flow types with their critical paths, the estimated critical-path time per hop over
    all flows (for bottlenecks), and the edges flows took again downstream of themselves
    with the estimated number of flows that did (loops). Pure Python: ``st`` only times
    the section."""
    if not types:
        return [], {}, []
    edge_types = {e["id"]: e["type"] for e in edges}
    per_type: dict[int, list[tuple[CriticalPath, str]]] = {}
    with st.section("critical_paths_python"):
        for fid, ss in spans_by_flow.items():
            cp = critical_path(ss, matches.get(fid, ()), carriers)
            if cp is None:
                continue
            first_trace = min(ss, key=lambda s: s["t0"])["trace_id"]
            per_type.setdefault(sig_of[fid], []).append((cp, first_trace))

    flows: list[dict[str, Any]] = []
    global_hops: dict[tuple[str, str], dict[str, Any]] = {}
    loops: list[tuple[frozenset[str], float]] = []
    for r in types:
        sig = r["sig"]
        cps = per_type.get(r["sig_hash"], [])
        loops.extend((cp.repeated, r["n"] / len(cps)) for cp, _ in cps if cp.repeated)
        hop_ids = list(r["hops"] or [])
        hop_tuples = [(edge_types.get(h, "call"), *h.split("->", 1)) for h in hop_ids]
        cp_summary, offsets, hop_acc = _aggregate_cp(cps)
        scale = (r["n"] / len(cps)) if cps else 0.0
        for key, acc in hop_acc.items():
            g = global_hops.setdefault(key, {"ns": 0.0, "flows": 0.0, "values": [],
                                             "examples": []})
            g["ns"] += acc["ns"] * scale
            g["flows"] += acc["instances"] * scale
            g["values"].extend(acc["values"])
            g["examples"].extend(acc["examples"])
        style = classify(hop_tuples, offsets, r["entry"])
        services = sorted({node_name(x) for h in hop_tuples for x in h[1:]
                           if x.startswith("service:")} | {r["entry"]})
        topics = sorted({node_name(x) for h in hop_tuples for x in h[1:]
                         if x.startswith("topic:")})
        q = r["q"] or [None, None, None]
        bottleneck = max((c for c in cp_summary if c["kind"] != "wait"),
                         key=lambda c: c["share"], default=None)
        flows.append({
            "id": flow_type_id(sig), "signature": sig,
            # (an entry span named by its destination, one of a group's names, is named by
            # the group: analyzer.destinations)
            "name": (f"{grouped_words(r['entry_name'], st.topic_groups)} ({r['entry']})"
                     if r["entry_name"] else r["entry"]),
            "entry_service": r["entry"], "count": int(r["n"]),
            "style": style["style"], "style_measure": style["measure"],
            "style_explanation": style["explanation"],
            "e2e_p50_ms": ms(q[0]), "e2e_p95_ms": ms(q[1]), "e2e_p99_ms": ms(q[2]),
            "error_rate": round(float(r["error_rate"] or 0.0), 4),
            "error_count": int(r["errors"] or 0),
            "critical_path": cp_summary,
            "bottleneck": ({"hop": bottleneck["hop"], "kind": bottleneck["kind"],
                            "share": bottleneck["share"]} if bottleneck else None),
            "hops": hop_ids, "services": services, "topics": topics,
            "traces_per_flow": round(float(r["traces_per_flow"] or 1.0), 3),
            "example_trace_ids": ids(r["slowest"]), "failed_trace_ids": ids(r["failed"]),
            "critical_path_sample": len(cps),
        })
    flows.sort(key=lambda f: (-f["count"], f["id"]))
    add_variants(flows)  # (types one entry starts are told apart: analyzer.flow_names)
    return flows, global_hops, loops


def _aggregate_cp(cps: list[tuple[CriticalPath, str]]
                  ) -> tuple[list[dict[str, Any]], dict[str, float],
                             dict[tuple[str, str], dict[str, Any]]]:
    """Per flow type: each hop's share of critical-path time (ordered along the path), the
    typical offset of each hop (for the style's command/reply order), and raw sums."""
    total = sum(cp.duration for cp, _ in cps)
    acc: dict[tuple[str, str], dict[str, Any]] = {}
    for cp, trace in cps:
        first_at: dict[tuple[str, str], int] = {}
        for g in cp.segments:
            key = (g.hop, g.kind)
            if key not in first_at:
                first_at[key] = g.start - cp.start
        for key, ns in cp.by_hop.items():
            a = acc.setdefault(key, {"ns": 0, "instances": 0, "values": [], "offsets": [],
                                     "examples": []})
            a["ns"] += ns
            a["instances"] += 1
            a["values"].append(ns)
            a["offsets"].append(first_at.get(key, 0))
            a["examples"].append((ns, trace))
    rows = []
    for (hop, kind), a in acc.items():
        rows.append({
            "hop": hop, "kind": kind,
            "share": round(a["ns"] / total, 4) if total else 0.0,
            "mean_ms": ms(a["ns"] / max(len(cps), 1)),
            "p50_ms": ms(percentile(a["values"], 0.5)),
            "p95_ms": ms(percentile(a["values"], 0.95)),
            "at_ms": ms(sum(a["offsets"]) / len(a["offsets"])),
        })
    # In path order: where each hop typically first appears on the critical path.
    rows.sort(key=lambda x: (x["at_ms"] or 0.0, -x["share"]))
    offsets: dict[str, float] = {}
    for (hop, kind), a in acc.items():
        if "->" in hop:
            off = sum(a["offsets"]) / len(a["offsets"]) / 1e6
            offsets[hop] = min(offsets.get(hop, off), off)
    return rows, offsets, acc


def _through_topics(st: Stager, g: nx.DiGraph) -> dict[str, set[tuple[str, str]]]:
    """For each topic on a cycle of the map, which services' messages it delivered to which
    services or routed to which destinations (``analyzer_through_topics``): a cycle passes
    a topic only where a message did (``findings._cycles``). Only the topics of the map's
    strongly connected parts are asked about."""
    topics = sorted(n for comp in nx.strongly_connected_components(g) if len(comp) > 1
                    for n in comp if g.nodes[n].get("type") == "topic")
    out: dict[str, set[tuple[str, str]]] = {t: set() for t in topics}
    if topics:
        for topic, src, dst in st.run("analyzer_through_topics",
                                      {"topics": topics}).fetchall():
            out[topic].add((src, dst))
    return out
