"""`flow_for_trace()`: the whole flow instance around one trace, for the waterfall view.

The flow is found breadth-first from the trace: span links in both directions, producer and
consumer spans sharing a message id (lost context), and spans sharing a conversation id.
A batch consumer (a span linking several traces) is included when reached from one of them
but not followed into the others, as in :func:`analyzer.analyze`, where it does not merge the
transactions it batched. The spans found are then staged with the same SQL as a full
analysis, so pairs, hops and the critical path follow exactly the same rules.
"""

from __future__ import annotations

import time
from typing import Any

from analyzer.critical_path import critical_path, split_shared_ids, stored_span_id
from analyzer.model import ms
from analyzer.staging import MAX_CONVERSATION_TRACES, Stager, is_conversation_id
from choreoscope.sql import named_queries

MAX_SPANS = 2000
MAX_TRACES = 200


def _compatible(a: str | None, b: str | None) -> bool:
    return a == b or a in (None, "unknown") or b in (None, "unknown")


def flow_for_trace(store: Any, trace_id: str, max_spans: int = MAX_SPANS,
                   timings: dict[str, float] | None = None) -> dict[str, Any] | None:
    """The flow instance containing ``trace_id`` (None if no span of it is stored).

    Returns ``flow_id``, ``trace_ids``, ``spans`` (every stored column plus ``depth``,
    ``on_critical_path``, ``queue_wait_ms``, ``retry_wait`` (that wait was a retry's),
    ``parent_missing`` (its parent span never arrived), ``duration_ms``; ordered by
    start), ``links``
    (``from_span``, ``to_span``, ``type`` parent|link|message_id, ``cross_trace``),
    ``critical_path`` (span ids in order), ``start_ns`` (the flow's start: a trace that
    consumed a message of another starts no flow), ``end_ns``, ``duration_ms``,
    ``errors`` and ``truncated`` (more than ``max_spans`` spans or too many traces).
    A server span sharing its client span's id (Zipkin's B3 "join") is keyed
    ``<id>:server``, under its client (``critical_path.split_shared_ids``).
    """
    tm = timings if timings is not None else {}
    tid = (trace_id or "").strip().lower()
    if not tid:
        return None
    q = named_queries()
    with store.cursor() as cur:
        st = Stager(cur, q)
        st.prepare()  # _discover's queries use the role/topic macros too
        t = time.perf_counter()
        members, attached, truncated = _discover(cur, q, tid)
        tm["discover"] = time.perf_counter() - t
        all_ids = sorted(members | attached)
        t = time.perf_counter()
        st.stage_spans(None, None, all_ids)
        hop_of: dict[tuple[str, str], tuple[str, str, str]] = {}
        matches: list[tuple[str, str, str, str, str]] = []
        queue: dict[tuple[str, str], int] = {}
        for what, tr, sp, a, b, c, pt, ps, qn in cur.execute(
                q["flow_hops_and_matches"]).fetchall():
            if what == "hop":
                hop_of[(tr, sp)] = (a, b, c)
            else:
                matches.append((tr, sp, pt, ps, a))
                if qn is not None:
                    # a batch waited as long as its latest message: keep the smallest wait
                    queue[(tr, sp)] = min(queue.get((tr, sp), qn), qn)
        carriers = st.carriers("flow_carriers")
        tm["stage"] = time.perf_counter() - t
        t = time.perf_counter()
        res = cur.execute(q["flow_spans"])
        cols = [d[0] for d in res.description]
        rows = res.fetchall()
        if not rows:
            return None
        if len(rows) > max_spans:
            truncated = True
            rows = rows[:max_spans]
        # (a server span sharing its client's id gets one of its own: "<id>:server")
        spans = split_shared_ids([dict(zip(cols, r)) for r in rows], service="service_name")
        roles = {(tr, sp): (role, topic) for tr, sp, role, topic
                 in cur.execute(q["flow_span_roles"]).fetchall()}
        links = cur.execute(q["flow_links"]).fetchall()
        tm["fetch"] = time.perf_counter() - t
    t = time.perf_counter()
    out = _assemble(spans, roles, links, matches, hop_of, queue, members, truncated,
                    carriers)
    tm["assemble"] = time.perf_counter() - t
    return out


def flow_trace_ids(store: Any, trace_id: str) -> tuple[list[str], bool]:
    """The traces the flow view of ``trace_id`` shows: its flow's, and the batches attached
    to it (sorted), and whether the flow had more traces than the view's limit. Only traces
    with stored spans are found, but ``trace_id`` itself is always listed."""
    tid = (trace_id or "").strip().lower()
    q = named_queries()
    with store.cursor() as cur:
        Stager(cur, q).prepare()  # _discover's queries use the role/topic macros
        members, attached, truncated = _discover(cur, q, tid)
    return sorted(members | attached), truncated


def _discover(cur: Any, q: dict[str, str], tid: str) -> tuple[set[str], set[str], bool]:
    """Breadth-first search for the traces of the flow: (members, attached batches, truncated)."""
    members = {tid}
    attached: set[str] = set()
    frontier = [tid]
    truncated = False
    seen_ids: set[str] = set()  # message/conversation ids already followed
    while frontier:
        keys = cur.execute(q["flow_trace_keys"], {"ids": frontier}).fetchall()
        by_msg: dict[str, list[tuple[str | None, str]]] = {}
        conv: set[str] = set()
        for _tr, _sp, role, mid, cid, topic in keys:
            if mid is not None and role is not None and ("m", mid) not in seen_ids:
                by_msg.setdefault(mid, []).append((role, topic))
            # (a label where a conversation id goes is none: analyzer_trace_pairs)
            if cid is not None and is_conversation_id(cid) and ("c", cid) not in seen_ids:
                conv.add(cid)
        seen_ids.update(("m", m) for m in by_msg)
        seen_ids.update(("c", c) for c in conv)
        new: set[str] = set()
        for _how, trace, fan_in in cur.execute(q["flow_linked_traces"],
                                              {"ids": frontier}).fetchall():
            if trace in members:
                continue
            if fan_in > 1:
                attached.add(trace)  # a batch: show it, do not follow it
            else:
                new.add(trace)
        if by_msg:
            for trace, key, role, topic in cur.execute(
                    q["flow_message_traces"], {"msg_ids": sorted(by_msg)}).fetchall():
                if trace not in members and role is not None and any(
                        r != role and _compatible(tp, topic) for r, tp in by_msg.get(key, ())):
                    new.add(trace)
        conv_traces: dict[str, set[str]] = {}
        if conv:
            for trace, key in cur.execute(q["flow_conversation_traces"],
                                          {"conv_ids": sorted(conv)}).fetchall():
                conv_traces.setdefault(key, set()).add(trace)
        for traces in conv_traces.values():
            if len(traces) <= MAX_CONVERSATION_TRACES:
                new |= traces - members
        new -= members
        attached -= new
        if len(members) + len(new) > MAX_TRACES:
            new = set(sorted(new)[:max(0, MAX_TRACES - len(members))])
            truncated = True
        members |= new
        frontier = sorted(new)
    attached -= members
    return members, attached, truncated


def _assemble(spans: list[dict[str, Any]],
              roles: dict[tuple[str, str], tuple[str | None, str]],
              links: list[tuple], matches: list[tuple],
              hop_of: dict[tuple[str, str], tuple[str, str, str]],
              queue: dict[tuple[str, str], int], members: set[str],
              truncated: bool,
              carriers: dict[tuple[str, str], tuple[str, str]] | None = None
              ) -> dict[str, Any]:
    cp_input = []
    for s in spans:
        key = (s["trace_id"], s["span_id"])
        h = hop_of.get(key)
        role, topic = roles[(s["trace_id"], stored_span_id(s["span_id"]))]
        cp_input.append({
            "trace_id": s["trace_id"], "span_id": s["span_id"],
            "parent_span_id": s["parent_span_id"], "service": s["service_name"],
            "kind": s["kind"],
            "role": role, "topic": topic,
            "t0": s["start_time_unix_nano"],
            "t1": s["end_time_unix_nano"], "err": s["status_code"] == "ERROR",
            "hop_type": h[0] if h else None, "hop_src": h[1] if h else None,
            "hop_dst": h[2] if h else None, "msg_id": s.get("msg_message_id"),
            "cgroup": s.get("msg_consumer_group"),
        })
    cp = critical_path(cp_input, matches, carriers)
    on_path = set(cp.spans) if cp else set()
    present = {(s["trace_id"], s["span_id"]) for s in spans}
    out_spans = []
    for s in spans:
        key = (s["trace_id"], s["span_id"])
        d = dict(s)
        d["depth"] = cp.depth.get(key, 0) if cp else 0
        d["on_critical_path"] = key in on_path
        d["queue_wait_ms"] = ms(queue[key]) if key in queue else None
        d["retry_wait"] = bool(cp and key in cp.retried)
        # (a parent named but never stored: its span was not exported, or was left open;
        # of a truncated view, not all of the traces' spans are read)
        d["parent_missing"] = bool(s["parent_span_id"]) and not truncated and \
            (s["trace_id"], s["parent_span_id"]) not in present
        d["duration_ms"] = ms(s["end_time_unix_nano"] - s["start_time_unix_nano"])
        d["causal_parent_span_id"] = cp.causal_parent[key][1] if cp and key in cp.causal_parent else None
        out_spans.append(d)
    out_links: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()

    def add(frm: tuple[str, str], to: tuple[str, str], typ: str) -> None:
        k = (frm[1], to[1], typ)
        if k in seen or frm not in present or to not in present:
            return
        seen.add(k)
        out_links.append({"from_span": frm[1], "to_span": to[1], "type": typ,
                          "from_trace": frm[0], "to_trace": to[0],
                          "cross_trace": frm[0] != to[0]})

    for s in spans:
        if s["parent_span_id"]:
            add((s["trace_id"], s["parent_span_id"]), (s["trace_id"], s["span_id"]), "parent")
    for tr, sp, ltr, lsp, _mid in links:
        add((ltr, lsp), (tr, sp), "link")
    for ctr, csp, ptr, psp, via in matches:
        if via == "message_id":
            add((ptr, psp), (ctr, csp), "message_id")
    # The flow starts where the analysis says (analyzer_flows): at its first trace that
    # consumed no message of another of its traces; a consumer's root may have begun
    # waiting long before (its spans then start before 0 in the waterfall).
    in_view = {s["trace_id"] for s in spans}
    consumers = {ctr for ctr, _csp, ptr, _psp, _via in matches
                 if ptr != ctr and ptr in in_view}
    start = min((s["start_time_unix_nano"] for s in spans if s["trace_id"] not in consumers),
                default=min(s["start_time_unix_nano"] for s in spans))
    end = max(s["end_time_unix_nano"] for s in spans)
    trace_ids = sorted({s["trace_id"] for s in spans},
                       key=lambda t: min(x["start_time_unix_nano"] for x in spans
                                         if x["trace_id"] == t))
    return {
        "flow_id": min(members & set(trace_ids)) if members & set(trace_ids) else trace_ids[0],
        "trace_ids": trace_ids,
        "spans": out_spans,
        "links": out_links,
        "critical_path": [k[1] for k in (cp.spans if cp else [])],
        "critical_path_segments": [
            {"span_id": g.span[1], "start_ns": g.start, "end_ns": g.end, "kind": g.kind,
             "hop": g.hop} for g in (cp.segments if cp else []) if g.end > g.start],
        "start_ns": start, "end_ns": end, "duration_ms": ms(end - start),
        "errors": sum(1 for s in spans if s["status_code"] == "ERROR"),
        "span_count": len(spans), "truncated": truncated,
    }
