"""Stage one analysis window into TEMP tables on a read cursor.

The stages (SQL in ``choreoscope/sql/analyzer*.sql``) are: the span shapes with their
role and topic (``a_shape``, small), the window's spans (the view ``a_spans``: span rows
joined to ``a_shape``; nothing per span is materialised but messaging spans), messaging
spans with their parents (``a_msg``), producers with their canonical span (``a_prod``),
consumer/producer pairs (``a_match``), counted deliveries (``a_cons``), every hop instance
(``a_hops``), the trace -> flow map from a union-find over trace pairs (``a_flowmap``),
per-trace rows (``a_traces``) and flow instances (``a_flows``). ``a_msg``, ``a_prod``,
``a_match`` and ``a_cons`` are views over ``*_t`` tables that keep shape ids instead of
the shapes' strings.

A few stages run only when a cheap count says the window holds what they look for (mostly
it does not): a broker's own spans between a publish and its consumers (``a_relay``), a
consumer under the HTTP request its message went out as (``a_transported``), a consumer
sent its message by a span that traced no publish (``a_implied``), a RabbitMQ delivery
whose routing key says it got a later publish than its parent (``a_rerouted``: the keys
are read for the candidates' traces only), and, after the hops, a delivery pushed to a span
with no messaging attributes (``a_pushed``). Each adds twin shapes, producers or matches to
the tables above rather than a path of its own.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import duckdb
import pyarrow as pa

from analyzer.destinations import group_names, reply_channels

# Far outside any accepted span timestamp: "no bound".
MIN_NS = 0
MAX_NS = 2**62
# A delivery span shorter than this (ns) is a mark, its handler's work under it: it lasts
# until that work ends (analyzer_delivery_work). Brave's are of no duration, SmallRye's
# ~30 µs; a handler doing anything measurable takes longer.
INSTANT_DELIVERY_NS = 1_000_000
# A conversation id shared by more traces than this is a session, not one transaction.
MAX_CONVERSATION_TRACES = 200
# ... and these are labels, not ids: Rebus.Diagnostics puts the message's intent there.
CONVERSATION_LABELS = ("pub", "p2p")
# ... as is anything this short (boto3sqs puts a batch entry's id there: '0', '1', ...).
MIN_CONVERSATION_ID_LENGTH = 4


def is_conversation_id(value: str) -> bool:
    """Whether a conversation id joins traces (analyzer_trace_pairs): not a label."""
    return len(value) >= MIN_CONVERSATION_ID_LENGTH and value not in CONVERSATION_LABELS


def flow_components(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Union-find over trace pairs: trace id -> flow id (the smallest trace id of its flow).

    Only traces that appear in a pair are returned; any other trace is a flow of its own.
    Roots are always the smaller id, so the root of a component is its minimum and flow ids
    do not depend on the order the pairs arrive in.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while True:
            p = parent.get(root, root)
            if p == root:
                break
            root = p
        while x != root:  # path compression
            nxt = parent[x]
            parent[x] = root
            x = nxt
        return root

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        if ra < rb:
            parent[rb] = ra
        else:
            parent[ra] = rb
        parent.setdefault(ra, ra)
        parent.setdefault(rb, rb)
    return {x: find(x) for x in list(parent)}


class Stager:
    """Runs the named stages on one cursor and records how long each took."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, queries: dict[str, str],
                 timings: dict[str, float] | None = None,
                 log: list[tuple[str, float, float]] | None = None) -> None:
        self.cur = cur
        self.q = queries
        self.timings = timings if timings is not None else {}
        self.log = log  # (stage, perf_counter start, end): benchmarks match memory samples
        self._prepared = False
        self.carried = False  # whether a_carried has rows (messages created before a send)
        # destination name -> the topic it is grouped into, and each such topic -> the
        # names it stands for, sorted (stage_shapes)
        self.topic_groups: dict[str, str] = {}
        self.topic_members: dict[str, list[str]] = {}

    def prepare(self) -> None:
        """Set up the cursor once: its session settings and the role/topic macros every
        analyzer query uses (``analyzer_macros``)."""
        if not self._prepared:
            self.run("analyzer_session")
            self.run("analyzer_macros")
            self._prepared = True

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        """Time a stage (seconds add up in ``timings[name]``)."""
        t = time.perf_counter()
        try:
            yield
        finally:
            end = time.perf_counter()
            self.timings[name] = self.timings.get(name, 0.0) + end - t
            if self.log is not None:
                self.log.append((name, t, end))

    def run(self, name: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        with self.section(name):
            return self.cur.execute(self.q[name], params or {})

    def run_each(self, name: str, params: dict[str, Any] | None = None) -> None:
        """Run a named query of several statements one at a time, each given the parameters
        it names (DuckDB binds parameters to a single statement). Its comments hold no ';'."""
        with self.section(name):
            for stmt in self.q[name].split(";"):
                if stmt.strip():
                    self.cur.execute(stmt, {k: v for k, v in (params or {}).items()
                                            if f"${k}" in stmt})

    def rows(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        res = self.run(name, params)
        cols = [d[0] for d in res.description]
        return [dict(zip(cols, r)) for r in res.fetchall()]

    def carriers(self, name: str) -> dict[tuple[str, str], tuple[str, str]]:
        """Each message created before the send that carried it -> that send, as
        (trace id, span id) pairs, from the named query over ``a_sent`` (empty when no
        message was: ``carried``)."""
        if not self.carried:
            return {}
        return {(tr, sp): tuple(send) for tr, sp, send in self.run(name).fetchall()}

    def stage_shapes(self) -> None:
        """The store's span shapes with their role and topic (``a_shape``), destinations
        named per entity grouped into one topic (:mod:`analyzer.destinations`)."""
        self.run("analyzer_shapes")
        with self.section("analyzer_group_topics"):
            shapes = self.cur.execute(self.q["analyzer_shape_topics"]).fetchall()
            names = {r[0] for r in shapes}
            groups = group_names(names)
            # (a template the instrumentation gave is one of its own names)
            members: dict[str, list[str]] = {g: [g] for g in set(groups.values()) & names}
            for name, grp in sorted(groups.items()):
                members.setdefault(grp, []).append(name)
            self.topic_members = {g: sorted(m) for g, m in members.items()}
            # (a Redis reply channel the name rule missed joins the other replies' node,
            # not listed as a member: that node names no channel)
            groups = {**groups, **reply_channels(shapes)}
            self.topic_groups = groups
            if groups:
                # (an Arrow table, not list parameters: DuckDB binds a 3000-string list
                # parameter in ~0.6 s, an Arrow table in a millisecond)
                self.cur.register("a_topic_group", pa.table({
                    "name": pa.array(list(groups), pa.string()),
                    "grp": pa.array(list(groups.values()), pa.string())}))
                self.cur.execute(self.q["analyzer_group_topics"])

    def stage_spans(self, since_ns: int | None, until_ns: int | None,
                    trace_ids: list[str] | None) -> None:
        """Spans, producers, consumer/producer pairs, deliveries and hops of a window (or
        of the given traces only)."""
        self.prepare()
        self.stage_shapes()
        if trace_ids is None:
            self.run("analyzer_src_all")
            self.run("analyzer_links_all")
        else:
            self.run("analyzer_src_traces", {"ids": trace_ids})
            self.run("analyzer_src_traces_full")
            self.run("analyzer_links_traces", {"ids": trace_ids})
        self.run("analyzer_link_keys")
        self.run("analyzer_window", {"since": MIN_NS if since_ns is None else since_ns,
                                     "until": MAX_NS if until_ns is None else until_ns})
        self.run("analyzer_load_spans")
        self.run("analyzer_spans_all")
        self.run("analyzer_load_messaging")
        if self.run("analyzer_server_sends").fetchone()[0]:
            self.run_each("analyzer_delivered")
        self.run("analyzer_producers")
        self.run("analyzer_resends")
        ids: list[str] = []
        if self.run("analyzer_rabbitmq_consumers").fetchone()[0]:
            self.run("analyzer_rerouted_candidates")
            # (RabbitMQ deliveries a routing key may give a later publish: few)
            ids = [r[0] for r in self.run("analyzer_rerouted_traces").fetchall()]
        if ids:
            self.run("analyzer_rerouted", {"ids": ids})
        else:
            self.run("analyzer_rerouted_none")
        self.run("analyzer_matches")
        relays = bool(self.run("analyzer_relay_candidates").fetchone()[0])
        if relays:
            self.run_each("analyzer_relays")
        else:
            self.run("analyzer_relays_none")
        pushed_over_http = bool(self.run("analyzer_transport_candidates").fetchone()[0])
        if pushed_over_http:
            self.run_each("analyzer_transported")
        else:
            self.run("analyzer_transported_none")
        if relays or pushed_over_http:  # (consumers whose parent is no producer: few)
            self.run_each("analyzer_implied")
        self.carried = bool(self.run("analyzer_carried").fetchone()[0])
        if self.carried:
            self.run_each("analyzer_sent")
        self.run("analyzer_consumers")
        instant = {"instant": INSTANT_DELIVERY_NS}
        if self.run("analyzer_instant_deliveries", instant).fetchone()[0]:
            self.run("analyzer_delivery_work", instant)
        if self.run("analyzer_bare_producers").fetchone()[0]:
            self.run("analyzer_inproc_sends")
        else:
            self.run("analyzer_inproc_none")
        # (a flow's traces alone seldom show where a peer answers: the store's calls tell,
        # for the peers of its client spans nothing answered, analyzer_hops' learned)
        self.run("analyzer_peer_answers_none" if trace_ids is None else "analyzer_peer_answers")
        self.run("analyzer_hops")
        if self.run("analyzer_push_candidates").fetchone()[0]:
            self.run_each("analyzer_pushed")

    def stage_window(self, since_ns: int | None, until_ns: int | None) -> None:
        """Everything of the window that no service filter changes: the spans' stages, the
        trace -> flow map and the per-trace rows (``a_traces``)."""
        self.stage_spans(since_ns, until_ns, None)
        rows = self.run("analyzer_trace_pairs",
                        {"max_conv": MAX_CONVERSATION_TRACES,
                         "conv_labels": list(CONVERSATION_LABELS),
                         "min_conv_len": MIN_CONVERSATION_ID_LENGTH}).fetchall()
        with self.section("union_find"):
            comp = flow_components((a, b) for a, b, _ in rows)
            # traces that consumed a message of another trace of their flow (analyzer_flows)
            consumers = {c for _, _, c in rows if c is not None}
            flowmap = pa.table({"trace_id": pa.array(list(comp.keys()), pa.string()),
                                "flow_id": pa.array(list(comp.values()), pa.string()),
                                "consumer": pa.array([t in consumers for t in comp],
                                                     pa.bool_())})
            self.cur.register("a_flowmap", flowmap)
        self.run("analyzer_traces")
        self.run("analyzer_cut_none" if since_ns is None else "analyzer_cut")
        # (a view over the staged tables: the delivery edges' queue time, read by the edge
        # statistics and by an edge's detail; a flow view's staging needs none)
        self.run("analyzer_edge_queue")
        self.run("analyzer_dst_lag")

    def narrow(self, service: str | None) -> None:
        """Narrow the staged window to the flows touching ``service``, deleting the other
        traces' rows from the staged tables (nothing without a service)."""
        if service:
            self.run("analyzer_select_service", {"service": service})
            self.run_each("analyzer_apply_keep")
            self.run("analyzer_spans_keep")

    def select(self, service: str | None, horizon_ns: int, grace_ns: int) -> None:
        """:meth:`narrow` to ``service`` and build the flow instances (``a_flows``), telling
        those still under way at the window's end: ``horizon_ns`` (the window's end, or the
        present), ``grace_ns`` how late spans may arrive (``analyzer_under_way``)."""
        self.narrow(service)
        self.run("analyzer_under_way", {"horizon": horizon_ns, "grace": grace_ns})
        if grace_ns == 0:  # (no grace: the window ended in the past, at the horizon)
            self.run("analyzer_under_way_ended", {"ended": horizon_ns})
        else:
            self.run("analyzer_under_way_live", {"horizon": horizon_ns, "grace": grace_ns})
        self.run("analyzer_flows")
        self.run("analyzer_whole")
