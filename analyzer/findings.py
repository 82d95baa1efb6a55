"""The analysis' findings, from its flow map and staged rows (pure): the ranked
bottlenecks, and the anomalies (lost context, messages nobody consumed, consumers without a
producer, redeliveries, clock skew, cycles of the map). :func:`analyzer.analysis.analyze`
calls these once its stages have run."""

from __future__ import annotations

from typing import Any

import networkx as nx

from analyzer.model import ids, ms, percentile

# Cycles of the map listed at most (simple cycles grow exponentially with a tangled map).
MAX_CYCLES = 20


def bottlenecks(hops: dict[tuple[str, str], dict[str, Any]], edges: list[dict[str, Any]],
                 errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_edge = {e["id"]: e for e in edges}
    total = sum(h["ns"] for h in hops.values())
    out: list[dict[str, Any]] = []
    for (hop, kind), h in hops.items():
        if kind == "wait" or h["ns"] <= 0 or not total:
            continue
        ex = sorted(h["examples"], key=lambda x: -x[0])
        b: dict[str, Any] = {
            "hop": hop, "kind": kind, "share": round(h["ns"] / total, 4),
            "critical_path_ms": ms(h["ns"]),
            "flows_on_path": int(round(h["flows"])),
            "p50_ms": ms(percentile(h["values"], 0.5)),
            "p95_ms": ms(percentile(h["values"], 0.95)),
            "example_trace_ids": ids([t for _, t in ex])[:5],
        }
        e = by_edge.get(hop)
        if e is not None:
            b["evidence"] = {k: e[k] for k in ("count", "error_count", "p50_ms", "p95_ms",
                                                "queue_p50_ms", "queue_p95_ms")}
        elif kind == "processing":
            # how work reaches this service: the hops whose time its processing extends
            b["entered_by"] = sorted(x["id"] for x in edges if x["target"] == hop)
        out.append(b)
    out.sort(key=lambda b: -b["share"])
    failed = next((int(r["failed_flows"]) for r in errors), 0)
    err_rows = []
    for r in errors:
        if r["hop"] is None:
            continue
        e = by_edge.get(r["hop"])
        err_rows.append({
            "hop": r["hop"], "kind": "error",
            "share": round(r["flows"] / failed, 4) if failed else 0.0,
            "error_count": int(r["errors"]), "failed_flows": int(r["flows"]),
            "error_rate": e["error_rate"] if e else None,
            "example_trace_ids": ids(r["traces"]),
        })
    err_rows.sort(key=lambda b: (-b["share"], -b["error_count"], b["hop"]))
    return out + err_rows


# --------------------------------------------------------------------------- anomalies
def anomalies(edges: list[dict[str, Any]], g: nx.DiGraph, evidence: list[dict[str, Any]],
               unconsumed: list[dict[str, Any]], redeliveries: list[dict[str, Any]],
               loops: list[tuple[frozenset[str], float]],
               through: dict[str, set[tuple[str, str]]],
               publish_lost: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    sns = _sns_topics(g)
    for ev in evidence:
        if _carries_no_context(g, f"topic:{ev['topic']}"):
            continue
        n, no_ctx = int(ev["n"]), int(ev["no_ctx"])
        if no_ctx and ev["topic_has_producers"]:
            out.append({"type": "broken_context", "where": ev["id"], "count": no_ctx,
                        "share": round(no_ctx / n, 4), "stitched": int(ev["stitched"]),
                        # (the edge is the finding's where, given beside the detail)
                        "detail": (f"{no_ctx} of {n} deliveries carry no parent or link to "
                                   f"their producer; {int(ev['stitched'])} were joined by "
                                   f"message id"),
                        "example_trace_ids": ids(ev["no_ctx_traces"])})
        elif no_ctx:
            x = {"type": "consumer_without_producer", "where": ev["id"],
                 "count": no_ctx, "share": round(no_ctx / n, 4),
                 "detail": f"no producer of topic:{ev['topic']} was seen",
                 "example_trace_ids": ids(ev["no_ctx_traces"])}
            if sns and g.nodes.get(f"topic:{ev['topic']}", {}).get("system") in _SQS_SYSTEMS:
                x["maybe_from"] = sns
                x["detail"] += (f"; SNS {'topics' if len(sns) > 1 else 'topic'} "
                                f"{', '.join(sns)} published in this window: if one is "
                                f"subscribed to this queue, the context was lost on the way "
                                f"(a subscription without raw message delivery leaves it "
                                f"in the SNS envelope in the body, which the consumer's "
                                f"instrumentation does not read by default)")
            out.append(x)
        if int(ev["skew"]):
            out.append({"type": "clock_skew", "where": ev["id"], "count": int(ev["skew"]),
                        "share": round(int(ev["skew"]) / n, 4),
                        "detail": "consumers that start before their producer started",
                        "example_trace_ids": ids(ev["skew_traces"])})
    # (a destination the broker routes onwards is consumed through its queues)
    consumed_topics = {e["source"] for e in edges if e["type"] in ("consume", "route")}
    for r in unconsumed:
        n, pending = int(r["n"]), int(r["pending"])
        lost = n - int(r["consumed"]) - pending
        if lost > 0 and not _carries_no_context(g, r["topic"]):
            out.append({"type": "published_never_consumed", "where": r["topic"],
                        "publisher": r["src"], "count": lost,
                        "share": round(lost / n, 4), "pending": pending,
                        "detail": (f"{lost} of {n} messages {r['src'].removeprefix('service:')}"
                                   f" published reached no consumer"
                                   + (f"; {pending} more too recent to tell" if pending
                                      else "")),
                        "topic_has_consumers": r["topic"] in consumed_topics,
                        "example_trace_ids": ids(r["traces"])})
    published = {e["id"]: e["count"] for e in edges if e["type"] == "publish"}
    for r in publish_lost:
        lost, svc = int(r["lost"]), r["src"].removeprefix("service:")
        n = published.get(f"{r['src']}->{r['topic']}", lost)
        out.append({"type": "publish_without_context", "where": f"{r['src']}->{r['topic']}",
                    "count": lost, "share": round(lost / n, 4),
                    "consumes": sorted(r["consumes"]),
                    "detail": (f"{lost} of {n} publishes start a flow of their own, though "
                               f"{svc} handles messages from "
                               f"{', '.join(sorted(r['consumes']))}: if they follow from "
                               f"one, its context was lost in {svc} (a receive span that "
                               f"ends before the handler runs, or a hand-off to another "
                               f"thread or task)"),
                    "example_trace_ids": ids(r["traces"])})
    for r in redeliveries:
        where = f"topic:{r['topic']}->service:{r['service']}"
        out.append({"type": "redelivery", "where": where, "count": int(r["extra"]),
                    "messages": int(r["messages"]),
                    "detail": f"{int(r['messages'])} messages delivered more than once",
                    "example_trace_ids": ids(r["traces"])})
    for e in edges:
        if e["type"] == "call" and e["clock_skew_count"]:
            out.append({"type": "clock_skew", "where": e["id"], "count": e["clock_skew_count"],
                        "share": round(e["clock_skew_count"] / e["count"], 4),
                        "detail": "server spans outside their client span",
                        "example_trace_ids": e["example_trace_ids"]})
    cycles = []
    for cyc in _cycles(g, through):
        pairs = [(cyc[i], cyc[(i + 1) % len(cyc)]) for i in range(len(cyc))]
        edge_ids = [g.edges[p]["id"] for p in pairs]
        count = min(g.edges[p]["count"] for p in pairs)
        # Flows that went around it: every edge of it taken again downstream of itself (a
        # broker's route, topic -> topic, is no span's edge and is not asked for).
        own = {g.edges[p]["id"] for p in pairs if g.edges[p]["type"] != "route"}
        around = round(sum(w for rep, w in loops if own <= rep))
        services = {n for n in cyc if n.startswith("service:")}
        if around:
            detail = f"about {around} flows went around it more than once"
        elif len(services) == 1:
            # (a worker's retry sent through its own queue, a task chained to the next on
            # one queue: the service comes back to itself once, not round and round)
            detail = ("the service sends itself messages through it (a retry, a next "
                      "step), none went around twice")
        else:
            detail = "flows come back along it (a reply), none went around twice"
        cycles.append({"type": "cycle", "where": " -> ".join(cyc + [cyc[0]]), "count": count,
                       "nodes": cyc, "edges": edge_ids, "loops": around, "detail": detail})
    # (loops first: a flow feeding itself is the one to look at)
    out.extend(sorted(_merge_replies(cycles), key=lambda x: -x["loops"]))
    return out


def _merge_replies(cycles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per set of services that answer one another: reply cycles (no flow went
    around twice) through the same services are one relation, however many ways a request
    goes and its answer comes back (a call or an event, one answer topic for success and
    one for failure make four cycles of the map). Each path is kept (``paths``); the
    finding's ``where`` is the first, its count the busiest's."""
    # (a finding, or the reply cycles of one set of services, in order of first appearance)
    out: list[dict[str, Any] | list[dict[str, Any]]] = []
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for c in cycles:
        services = frozenset(n for n in c["nodes"] if n.startswith("service:"))
        if c["loops"] or len(services) < 2:
            out.append(c)
        elif services in groups:
            groups[services].append(c)
        else:
            out.append(groups.setdefault(services, [c]))
    return [x if isinstance(x, dict) else x[0] if len(x) == 1 else _replies(x) for x in out]


def _replies(same: list[dict[str, Any]]) -> dict[str, Any]:
    """The one finding of several reply cycles through the same services."""
    names = sorted({n.removeprefix("service:") for n in same[0]["nodes"]
                    if n.startswith("service:")})
    return {"type": "cycle", "where": same[0]["where"],
            "count": max(c["count"] for c in same),
            "nodes": list(dict.fromkeys(n for c in same for n in c["nodes"])),
            "edges": list(dict.fromkeys(e for c in same for e in c["edges"])),
            "loops": 0, "paths": [c["where"] for c in same],
            "detail": (f"flows come back along {len(same)} paths between "
                       f"{', '.join(names[:-1])} and {names[-1]} (replies), none went "
                       f"around twice")}

_SQS_SYSTEMS = ("aws_sqs", "aws.sqs")
# Systems whose messages never carry a trace context, whatever the application does:
# socket.io's packets have no headers, and its other side is mostly a browser that traces
# nothing (the instrumentation patches the server only). Their deliveries are entry points,
# their publishes go to clients: neither is a lost context nor a message nobody consumed.
_CONTEXTLESS_SYSTEMS = ("socket.io",)


def mark_lost_context(edges: list[dict[str, Any]], g: nx.DiGraph,
                       publish_lost: list[dict[str, Any]]) -> None:
    """Each edge's ``broken_context_count`` as the map draws it: a publish edge counts its
    publishes that lost the context of what their service handled (analyzer_publish_lost),
    and a delivery from a system that never carries one counts none (socket.io)."""
    lost = {f"{r['src']}->{r['topic']}": int(r["lost"]) for r in publish_lost}
    for e in edges:
        if e["type"] == "publish" and e["id"] in lost:
            e["broken_context_count"] = lost[e["id"]]
        elif e["type"] == "consume" and _carries_no_context(g, e["source"]):
            e["broken_context_count"] = 0


def _carries_no_context(g: nx.DiGraph, topic: str) -> bool:
    """Whether ``topic`` belongs to a system that never propagates context."""
    return g.nodes.get(topic, {}).get("system") in _CONTEXTLESS_SYSTEMS


def _sns_topics(g: nx.DiGraph) -> list[str]:
    """The SNS topics of the map: where SQS deliveries without a producer may well have come
    from (SNS wraps a message in an envelope unless the subscription delivers it raw, and
    the AWS SDK instrumentations read the context from the SQS message's attributes only,
    unless told to look in the body)."""
    return sorted(n for n, d in g.nodes(data=True)
                  if d.get("type") == "topic" and d.get("system") == "aws.sns")


def _cycles(g: nx.DiGraph, through: dict[str, set[tuple[str, str]]]) -> list[list[str]]:
    """The map's simple cycles (up to MAX_CYCLES), each starting at its smallest node id.
    A topic is where the messages of all its publishers meet, so a cycle passes it only
    where a message did: from the service before it to the one after, or to the
    destination the broker routed that service's messages on to (``through``: RabbitMQ's
    default exchange takes a requester's messages to the server's queue and the server's
    replies to the requester's, which is no way round; a route into the topic before it
    is not asked about). A worker re-sending its own
    task through an unnamed queue, or a service handling the replies to its own requests,
    is a cycle; a service that publishes to an exchange it also consumes other services'
    messages from is not (one RabbitMQ topic exchange for every event, as FastStream and
    eShop name it), nor is a task's worker sending another task, run by another worker,
    through an unnamed queue; two services answering each other over that one exchange are
    (the topic then appears once per pass). A Kafka Streams app re-keying through its own
    ``*-repartition`` topic is no cycle either."""
    out: list[list[str]] = []
    try:
        it = nx.simple_cycles(g, length_bound=8)
    except TypeError:  # networkx < 3.1
        it = nx.simple_cycles(g)
    for c in it:
        if not all((c[j - 1], c[(j + 1) % len(c)]) in through.get(n, ())
                   for j, n in enumerate(c)
                   if n.startswith("topic:") and c[j - 1].startswith("service:")):
            continue
        if len(c) == 2 and any(n.endswith("-repartition") for n in c):
            continue  # (a Kafka Streams app's own shuffle: it re-keys through that topic)
        # Rotate to start at the smallest id so each cycle is reported the same way.
        i = c.index(min(c))
        out.append(c[i:] + c[:i])
        if len(out) >= MAX_CYCLES:
            break
    # Services passing messages round through one topic (A's to B, B's back to A, over one
    # exchange) make no simple cycle of the map, the topic being one node: found among the
    # topic's own sender -> receiver pairs, and told as the path through it each time. A
    # sender's messages the broker routed on to a queue reach that queue's consumers (an
    # event bus exchange routing each event to its queue; the default exchange taking
    # requests to a server's queue and its answers to the client's reply queue).
    for topic, pairs in sorted(through.items()):
        if len(out) >= MAX_CYCLES:
            break
        direct = {p for p in pairs if p[0] != p[1] and p[1].startswith("service:")}
        via: dict[tuple[str, str], str] = {}
        for src, queue in sorted(pairs):
            if queue.startswith("topic:") and queue in g:
                for dst in g.successors(queue):
                    if dst.startswith("service:") and dst != src:
                        via.setdefault((src, dst), queue)
        for c in nx.simple_cycles(nx.DiGraph(sorted(direct | set(via)))):
            if len(c) > 4 or len(out) >= MAX_CYCLES:
                continue
            i = c.index(min(c))
            order = c[i:] + c[:i]
            path = []
            for k, svc in enumerate(order):
                step = (svc, order[(k + 1) % len(order)])
                path += [svc, topic] if step in direct else [svc, topic, via[step]]
            # (each step an edge of the map: a pair of a publish or delivery the map counts)
            if all(g.has_edge(path[k], path[(k + 1) % len(path)]) for k in range(len(path))):
                out.append(path)
    return sorted(out)
