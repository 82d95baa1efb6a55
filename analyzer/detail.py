"""`edge_detail()`: statistics and a time series for one node or edge of the map.

Runs a few direct queries over ``spans`` for the one element (see the ``detail_*`` queries
in ``choreoscope/sql/detail.sql``), so a click on the map costs tens of milliseconds even
on a large store, instead of a full analysis.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from analyzer.model import ids, ms, node_name, node_type, quantiles_ms
from analyzer.staging import INSTANT_DELIVERY_NS, MAX_NS, MIN_NS, Stager
from choreoscope.sql import named_queries


# (source node type, target node type) -> the type of the edge between them
_EDGE_TYPES = {("service", "topic"): "publish", ("topic", "service"): "consume",
               ("topic", "topic"): "route", ("service", "service"): "call",
               ("service", "external"): "call"}


# Steps a series may have, in seconds: the smallest that gives at most _MAX_POINTS buckets
# over the window (or, for an open one, over the element's own extent) is taken, so that a
# minute of traffic is not one bar and a week not ten thousand.
_STEPS_S = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
_MAX_POINTS = 60


def series_step_s(since_ns: int | None, until_ns: int | None, first_ns: int | None,
                  last_ns: int | None) -> int:
    """The step of an element's time series: see ``_STEPS_S``."""
    if since_ns is not None and until_ns is not None:
        extent_s = (until_ns - since_ns) / 1e9
    elif first_ns is not None and last_ns is not None:
        extent_s = (last_ns - first_ns) / 1e9
    else:
        return 60
    for step in _STEPS_S:
        if extent_s / step <= _MAX_POINTS:
            return step
    return _STEPS_S[-1]


def _series(cur: Any, queries: dict[str, str], r: dict[str, Any], since_ns: int | None,
            until_ns: int | None) -> tuple[int, list[tuple]]:
    """(step in seconds, the series' rows) of the rows ``detail_stats`` summed in ``r``."""
    step = series_step_s(since_ns, until_ns, r["t0"], r["t1"])
    return step, cur.execute(queries["detail_series"], {"step_us": step * 1_000_000}).fetchall()


def _split(element_id: str) -> tuple[str, str | None]:
    if "->" in element_id:
        src, dst = element_id.split("->", 1)
        return src, dst
    return element_id, None


def edge_detail(store: Any, element_id: str, since_ns: int | None = None,
                until_ns: int | None = None, service: str | None = None) -> dict[str, Any]:
    """Counts, percentiles, queue time, ``timeseries`` ([{t, count, errors, p95_ms}], one
    point per ``timeseries_step_s`` seconds: see ``series_step_s``) and
    slowest / failed example trace ids of an edge (``<source>-><target>``) or a node id.
    A delivery edge also has ``message_count``: the producer messages its deliveries were
    joined to, summed over the deliveries (more than ``count`` when messages arrive in
    batches; a message delivered twice counts twice, as two deliveries do).

    Raises ``ValueError`` for an id that is neither.
    """
    src, dst = _split(element_id.strip())
    p: dict[str, Any] = {"since": MIN_NS if since_ns is None else since_ns,
                         "until": MAX_NS if until_ns is None else until_ns,
                         "service": service or None}
    st, dt = node_type(src), (node_type(dst) if dst else None)
    out: dict[str, Any] = {"id": element_id}
    if dst is None:
        if st not in ("service", "topic", "external") or ":" not in src:
            raise ValueError(f"not a node or edge id: {element_id!r}")
        out.update({"type": st, "name": node_name(src)})
        if st == "external":
            query, p["name"], p["target"] = "detail_rows_external", None, node_name(src)
        else:
            query = "detail_rows_service" if st == "service" else "detail_rows_topic"
            p["name"] = node_name(src)
    else:
        typ = _EDGE_TYPES.get((st, dt))
        if typ is None:
            raise ValueError(f"not a node or edge id: {element_id!r}")
        out.update({"source": src, "target": dst, "name": element_id, "type": typ})
        # (detail_rows_publish, _consume, _route or _call; a peer without spans is external)
        query = "detail_rows_external" if dt == "external" else f"detail_rows_{typ}"
        if typ == "publish":
            p["name"], p["topic"] = node_name(src), node_name(dst)
        elif typ == "consume":
            p["name"], p["topic"] = node_name(dst), node_name(src)
        else:
            p["name"], p["target"] = node_name(src), node_name(dst)
    q = named_queries()
    with store.cursor() as cur:
        stager = Stager(cur, q)
        stager.prepare()  # msg_role / msg_topic, as the analysis means them
        stager.stage_shapes()  # ... decided once per span shape (a_shape)
        names = stager.topic_members.get(p["name"]) if dst is None and st == "topic" else None
        if names:
            # (a topic standing for destinations named per entity: analyzer.destinations)
            out["destination_names"] = len(names)
            out["destinations"] = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        if query == "detail_rows_consume":
            # (the sends that carried messages created before them: looked for only when
            # shapes and link counts say there may be any)
            cur.execute(q["detail_carried" if cur.execute(q["detail_may_carry"]).fetchone()[0]
                          else "detail_carried_none"])
            # (SERVER spans delivering a message while saying they send: only if any)
            who = {"name": p["name"], "topic": p["topic"]}
            if cur.execute(q["detail_server_send_shapes"], who).fetchone()[0]:
                cur.execute(q["detail_served"], {**who, "since": p["since"],
                                                 "until": p["until"]})
            else:
                cur.execute(q["detail_served_none"])
            # (deliveries pushed to a handler that knows nothing of messaging: only if any)
            window = {**who, "since": p["since"], "until": p["until"]}
            if cur.execute(q["detail_push_shapes"], who).fetchone()[0] and cur.execute(
                    q["detail_push_candidates"], window).fetchone()[0]:
                cur.execute(q["detail_pushed"])
            else:
                cur.execute(q["detail_pushed_none"])
        if query == "detail_rows_external":
            cur.execute(q["detail_external_calls"])
            if cur.execute(q["detail_transport_shapes"],
                           {"target": p["target"]}).fetchone()[0]:
                query = "detail_rows_external_transport"
        sql = q[query]
        cur.execute(sql, {k: v for k, v in p.items() if f"${k}" in sql})
        if query == "detail_rows_call":
            who = {"name": p["name"], "target": p["target"]}
            if p["name"] == p["target"]:  # (not its sidecar handing it requests)
                cur.execute(q["detail_calls_self"], {"name": p["name"]})
            cur.execute(q["detail_calls_rows"])
            # client spans naming the service as their peer that reached none of its spans
            # are calls to it too, as the analysis counts them (looked for only if any)
            if cur.execute(q["detail_peer_shapes"], who).fetchone()[0] and cur.execute(
                    q["detail_peer_candidates"],
                    {**who, "since": p["since"], "until": p["until"]}).fetchone()[0]:
                cur.execute(q["detail_external_calls"])
                more = q["detail_rows_call_peer"]
                cur.execute(more, {k: v for k, v in p.items() if f"${k}" in more})
            # ... and those naming a peer where only this service's spans answer (analyzer_hops'
            # learned), that reached none: its server spans not in (looked for only if any)
            if cur.execute(q["detail_learn_shapes"], {"name": p["name"]}).fetchone()[0]:
                window = {**who, "since": p["since"], "until": p["until"]}
                peers = cur.execute(q["detail_learned_peers"], window).fetchall()
                if peers:
                    cur.execute(q["detail_external_calls"])
                for (peer,) in peers:
                    cur.execute(q["detail_rows_call_learned"],
                                {"name": p["name"], "peer": peer, "since": p["since"],
                                 "until": p["until"]})
        instant = {"instant": INSTANT_DELIVERY_NS}
        if out.get("type") == "consume" and \
                cur.execute(q["detail_instant_deliveries"], instant).fetchone()[0]:
            cur.execute(q["detail_delivery_work"], {"name": p["name"], **instant})
        if out.get("type") == "publish" and cur.execute(
                q["detail_unnamed_producers"], {"name": p["name"]}).fetchone()[0]:
            stager.run_each("detail_publish_went", p)
        # (spans that sent a message without a producer span of their own: only if any
        # shapes may be such, analyzer_implied)
        if out.get("type") == "publish" and cur.execute(
                q["detail_implied_shapes"], {"name": p["name"], "topic": p["topic"]}
        ).fetchone()[0]:
            cur.execute(q["detail_implied_publishes"],
                        {k: p[k] for k in ("name", "topic", "since", "until")})
        if service:
            cur.execute(q["detail_keep_service"], {k: p[k] for k in ("service", "since", "until")})
        cols = ("n", "errors", "dq", "qq", "t0", "t1", "slowest", "failed")
        r = dict(zip(cols, cur.execute(q["detail_stats"]).fetchone()))
        series = _series(cur, q, r, since_ns, until_ns)
        if out.get("type") == "consume":
            # producer messages joined to these deliveries, as the analysis' edges count
            # them: a batch delivery (an SQS receive, a batch listener) joins several
            out["message_count"] = int(cur.execute(q["detail_messages"]).fetchone()[0])
            cur.execute(q["detail_keys_rows"])
            out.update(_breakdown(cur, q))
        elif query == "detail_rows_service":
            cur.execute(q["detail_keys_rows"])
            out.update(_breakdown(cur, q, partitions=False))
    return _finish(out, r, series, since_ns, until_ns)


# Rows of a breakdown shown at most (the slowest queues first).
MAX_BREAKDOWN = 8


def _breakdown(cur: Any, queries: dict[str, str], partitions: bool = True) -> dict[str, Any]:
    """``by_partition`` and ``by_instance`` of a delivery edge whose deliveries are in
    ``d_keys`` (a service's units of work: ``by_instance`` only, ``partitions`` False): per
    partition, per instance, ``key``, ``count``, ``error_count``, ``queue_p95_ms`` and
    ``p95_ms``, the longest queues (else durations) first, at most ``MAX_BREAKDOWN``, with
    ``by_partition_total`` and ``by_instance_total``: how many there were. A dimension with
    fewer than two keys is left out: it tells nothing."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for dim, key, n, errors, queue_p95, p95 in cur.execute(
            queries["detail_breakdown"], {"partitions": partitions}).fetchall():
        groups.setdefault(dim, []).append({
            "key": key, "count": int(n), "error_count": int(errors or 0),
            "queue_p95_ms": ms(queue_p95), "p95_ms": ms(p95)})
    out: dict[str, Any] = {}
    for dim, rows in groups.items():
        if len(rows) < 2:
            continue
        rows.sort(key=lambda r: (-(r["queue_p95_ms"] or 0.0), -(r["p95_ms"] or 0.0),
                                 r["key"]))
        out[f"by_{dim}"] = rows[:MAX_BREAKDOWN]
        out[f"by_{dim}_total"] = len(rows)
    return out


def _finish(out: dict[str, Any], r: dict[str, Any], series: tuple[int, list[tuple]],
            since_ns: int | None, until_ns: int | None,
            extent: tuple[int | None, int | None] | None = None) -> dict[str, Any]:
    """The detail of ``out``'s element from its rows' statistics (``detail_stats``) and
    series (``_series``). Its rate is per second of the window, or of ``extent`` (first
    start, last end) for an open window, else of its own rows' extent."""
    n = int(r["n"] or 0)
    t0, t1 = extent if extent is not None else (r["t0"], r["t1"])
    if since_ns is not None and until_ns is not None:
        span_s = max((until_ns - since_ns) / 1e9, 1e-9)
    elif t0 is not None:
        span_s = max((t1 - t0) / 1e9, 1.0)
    else:
        span_s = 1.0
    out.update({
        "count": n, "error_count": int(r["errors"] or 0),
        "error_rate": round((r["errors"] or 0) / n, 4) if n else 0.0,
        "rate_per_s": round(n / span_s, 4),
        **quantiles_ms(r["dq"]),
    })
    if out.get("type") == "consume":
        out.update(quantiles_ms(r["qq"], "queue_"))
    out["timeseries_step_s"], rows = series
    out["timeseries"] = [
        {"t": t.replace(tzinfo=_dt.timezone.utc).isoformat().replace("+00:00", "Z"),
         "count": int(c), "errors": int(e or 0), "p95_ms": ms(p95)}
        for t, c, e, p95 in rows]
    out["slowest_trace_ids"] = ids(r["slowest"])
    out["failed_trace_ids"] = ids(r["failed"])
    out["first_ns"], out["last_ns"] = r["t0"], r["t1"]
    return out


def staged_edge_detail(cur: Any, queries: dict[str, str], element_id: str,
                       since_ns: int | None, until_ns: int | None) -> dict[str, Any]:
    """:func:`edge_detail` of an edge, read from a window staged on ``cur``
    (``analyzer.StagedWindow.detail``) rather than from the spans: the hop instances its
    edge statistics aggregate, so every number is the map's own (its count, errors,
    percentiles, queue time, messages and examples), with the time series beside.
    Raises ``ValueError`` for an id that is no edge."""
    src, dst = _split(element_id.strip())
    typ = _EDGE_TYPES.get((node_type(src), node_type(dst) if dst else ""))
    if dst is None or typ is None:
        raise ValueError(f"not an edge id: {element_id!r}")
    out: dict[str, Any] = {"id": element_id, "source": src, "target": dst,
                           "name": element_id, "type": typ}
    cur.execute(queries["staged_detail_rows"], {"src": src, "dst": dst})
    cols = ("n", "errors", "dq", "qq", "t0", "t1", "slowest", "failed")
    r = dict(zip(cols, cur.execute(queries["detail_stats"]).fetchone()))
    series = _series(cur, queries, r, since_ns, until_ns)
    # (an open window's rates are per second of its spans' extent, as the analysis' are)
    extent = None if since_ns is not None and until_ns is not None else \
        cur.execute(queries["analyzer_summary"]).fetchone()[2:4]
    if typ == "consume":
        q = cur.execute(queries["staged_detail_queue"],
                        {"topic": node_name(src), "service": node_name(dst)}).fetchone()
        r["qq"] = q[0] if q else None
        out["message_count"] = int(q[1]) if q else 0
        cur.execute(queries["staged_detail_keys"], {"src": src, "dst": dst})
        out.update(_breakdown(cur, queries, partitions=True))
    return _finish(out, r, series, since_ns, until_ns, extent)
