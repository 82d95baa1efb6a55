"""Critical path of one flow instance, CRISP-style, across asynchronous hops.

CRISP (Uber, ATC 2022) walks back from the last-finishing child through the child that
finished last before the current one started, after clipping children to their parent
(clock skew). Jaeger applies it per trace and drops CONSUMER children of PRODUCER spans,
which is right for a request's latency and wrong for a workflow: here a consumer is the
*causal child* of the producer it received from (through parent, link or message id), and
it is allowed to finish after its producer, so it extends the flow and can block it.

Time on the path is attributed to hops:

* ``processing`` of ``service:<name>``: a span's own time not covered by a child on the path;
* ``call`` of a call edge (a CLIENT span's own time: network, a peer without spans) or of a
  publish edge (the synchronous send to the broker);
* ``queue`` of a delivery edge ``topic:<t>->service:<s>``: between the producer's end and the
  consumer's start;
* ``retry`` of a delivery edge: a failed delivery (or one that had ended) is the causal
  parent of the redelivery of the same message to the same service, destination and
  group, and the wait between them is time lost to the failure, not to the queue; so is
  the wait of a message its consumer sent again (a publish under a delivery of the same
  message id: a task's own retry); of a call edge likewise, between the attempts of work
  a client span handed on without waiting (Temporal's activity attempts under their
  start span).

Pure functions over plain dicts; no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

Key = tuple[str, str]  # (trace_id, span_id)
_ROOT: Key = ("", "")  # the virtual root when a flow has several root spans


@dataclass(slots=True)
class Segment:
    """A piece of the critical path: ``[start, end)`` ns attributed to ``hop`` as ``kind``."""

    span: Key
    start: int
    end: int
    kind: str   # processing | call | queue | retry | wait
    hop: str    # service:x, an edge id, or '' for unattributed waiting


@dataclass
class CriticalPath:
    """The critical path of one flow instance."""

    start: int
    end: int
    segments: list[Segment]
    spans: list[Key]                        # spans on the path, in time order
    depth: dict[Key, int]                   # depth in the causal tree (roots 0)
    causal_parent: dict[Key, Key]           # span -> the span it causally follows
    async_children: set[Key]                # spans joined to a producer (not clipped at end)
    skewed: int = 0                         # spans clipped because of clock skew
    by_hop: dict[tuple[str, str], int] = field(default_factory=dict)  # (hop, kind) -> ns
    # edges (publish, delivery, call) taken again downstream of themselves: the flow went
    # around a loop (a reply coming back takes each edge once)
    repeated: frozenset[str] = frozenset()
    # spans whose wait before them was a retry's (a redelivery after a failed attempt, a
    # message sent again by its consumer, a failed attempt's next), not a queue's
    retried: frozenset[Key] = frozenset()

    @property
    def duration(self) -> int:
        return self.end - self.start


def _span_hop(sp: dict[str, Any]) -> tuple[str, str]:
    """(kind, hop) of a span's own time on the path."""
    if sp.get("hop_type") == "call":
        return "call", f"{sp['hop_src']}->{sp['hop_dst']}"
    if sp.get("role") == "P":
        return "call", f"service:{sp['service']}->topic:{sp.get('topic') or 'unknown'}"
    return "processing", f"service:{sp['service']}"


def _edge_of(sp: dict[str, Any] | None) -> str | None:
    """The map edge a span takes: its delivery or call, or the publish of a producer."""
    if sp is None:
        return None
    if sp.get("hop_type") == "consume":
        return _delivery_hop(sp)
    kind, hop = _span_hop(sp)
    return hop if kind == "call" else None


def _repeated_edges(roots: Iterable[Key], children: dict[Key, list[Key]],
                    by_key: dict[Key, dict[str, Any]]) -> frozenset[str]:
    """Edges some span takes while an ancestor in its causal chain took them already."""
    out: set[str] = set()
    on_chain: dict[str, int] = {}
    stack: list[tuple[Key, bool]] = [(r, False) for r in roots]
    while stack:
        k, leaving = stack.pop()
        e = _edge_of(by_key.get(k))
        if leaving:
            if e is not None:
                on_chain[e] -= 1
            continue
        if e is not None:
            if on_chain.get(e):
                out.add(e)
            on_chain[e] = on_chain.get(e, 0) + 1
        stack.append((k, True))
        stack.extend((c, False) for c in children.get(k, ()))
    return frozenset(out)


# The id the flow view and critical paths give a server span that shares its client span's
# id: "<id>:server" (see split_shared_ids).
SHARED_SERVER_SUFFIX = ":server"


def stored_span_id(span_id: str) -> str:
    """The span id as stored, for an id that :func:`split_shared_ids` may have given."""
    return span_id.removesuffix(SHARED_SERVER_SUFFIX)


def split_shared_ids(spans: Sequence[dict[str, Any]],
                     service: str = "service") -> list[dict[str, Any]]:
    """Give the server span of each shared client/server id a key of its own.

    Zipkin's instrumentation (Brave, Spring Cloud Sleuth: B3's "join", their default) gives
    a server span its client span's id and parent, and the server's children name that id
    as their parent. Keyed by (trace, span id), the two would be one span. As Jaeger's
    span-id deduper does, the server span becomes ``<id>:server`` with its client as
    parent; the id's children in the server's service (not the client's) then hang under
    the server. ``service`` is the dict key of the service name. Spans without a shared id
    are returned as they are (the same dicts); renamed ones are copies.
    """
    by_key: dict[Key, list[dict[str, Any]]] = {}
    for s in spans:
        by_key.setdefault((s["trace_id"], s["span_id"]), []).append(s)
    if len(by_key) == len(spans):
        return list(spans)
    renamed: dict[Key, tuple[str, str, str]] = {}  # shared key -> (new id, server, client)
    out: list[dict[str, Any]] = []
    for s in spans:
        key = (s["trace_id"], s["span_id"])
        group = by_key[key]
        if len(group) == 2 and s.get("kind") == "SERVER":
            client = group[0] if group[1] is s else group[1]
            if client.get("kind") == "CLIENT":
                new_id = s["span_id"] + SHARED_SERVER_SUFFIX
                renamed[key] = (new_id, s[service], client[service])
                s = {**s, "span_id": new_id, "parent_span_id": key[1]}
        out.append(s)
    for i, s in enumerate(out):
        r = renamed.get((s["trace_id"], s.get("parent_span_id") or ""))
        if r and s["span_id"] != r[0] and s[service] == r[1] and r[1] != r[2]:
            out[i] = {**s, "parent_span_id": r[0]}
    return out


def _delivery_hop(sp: dict[str, Any]) -> str:
    if sp.get("hop_type") == "consume":
        return f"{sp['hop_src']}->{sp['hop_dst']}"
    return f"topic:{sp.get('topic') or 'unknown'}->service:{sp['service']}"


def critical_path(spans: Sequence[dict[str, Any]],
                  matches: Iterable[Sequence[Any]] = (),
                  carriers: Mapping[Key, Key] | None = None) -> CriticalPath | None:
    """Compute the critical path of one flow instance.

    ``spans``: dicts with ``trace_id, span_id, parent_span_id, service, kind, role, topic,
    t0, t1`` and optionally ``hop_type, hop_src, hop_dst`` (the hop the span is the source
    span of, from ``a_hops``) and ``msg_id`` (the message id, which tells a re-send).
    ``matches``: ``(c_trace, c_span, p_trace, p_span, via)`` consumer-to-producer pairs.
    ``carriers``: a message's producer span -> the send that carried it, when it was
    created before that send (``analyzer_sent``): the message reached the broker when the
    send ended, so its consumer follows the send. Returns ``None`` for an empty flow.
    """
    if not spans:
        return None
    by_key: dict[Key, dict[str, Any]] = {(s["trace_id"], s["span_id"]): s for s in spans}
    if len(by_key) < len(spans):  # a client and a server span sharing an id (Zipkin's)
        spans = split_shared_ids(spans)
        by_key = {(s["trace_id"], s["span_id"]): s for s in spans}

    # A consumer's causal parent is the producer that finished last among those it received
    # from (for a batch, the last message is the one that let the batch go).
    best: dict[Key, Key] = {}
    message: dict[Key, Key] = {}  # ... and the message's own producer span (not its carrier)
    for m in matches:
        ck, pk = (m[0], m[1]), (m[2], m[3])
        own = pk
        if carriers and carriers.get(pk) in by_key:
            pk = carriers[pk]  # (a send in another flow's traces is not: the message's own)
        if ck == pk or ck not in by_key or pk not in by_key:
            continue
        cur = best.get(ck)
        if cur is None or by_key[pk]["t1"] > by_key[cur]["t1"]:
            best[ck], message[ck] = pk, own
    parent: dict[Key, Key] = {}
    for k, sp in by_key.items():
        pid = sp.get("parent_span_id")
        if pid and (sp["trace_id"], pid) in by_key:
            parent[k] = (sp["trace_id"], pid)
    # Attempts of work handed on: SERVER spans of one service under one CLIENT span that
    # did not wait for them (Temporal's activity attempts under their start span): a failed
    # attempt is the causal parent of the next, and the wait between them is retry time of
    # the call.
    retry_hop: dict[Key, str] = {}
    handed: dict[tuple[Key, str], list[Key]] = {}
    for k, p in parent.items():
        sp, pp = by_key[k], by_key[p]
        if sp.get("kind") == "SERVER" and pp.get("kind") == "CLIENT" \
                and sp.get("service") != pp.get("service") and not _waited_for(pp, sp):
            handed.setdefault((p, sp.get("service")), []).append(k)
    for (p, svc), group in handed.items():
        for prev, nxt in _after_failures(group, by_key):
            parent[nxt] = prev
            retry_hop[nxt] = f"service:{by_key[p].get('service')}->service:{svc}"
    # Redeliveries: the same producer's message to the same service again after an attempt
    # that failed, or had ended, follows that attempt, not the producer.
    # (one destination and consumer group: one service may take a message twice through
    # two subscriptions, which is no redelivery; an attempt that ended before the next
    # began did not take it, failed or not: Dramatiq's worker span ends OK when its actor,
    # beside it, raised)
    attempts: dict[tuple[Key, str, Any, Any], list[Key]] = {}
    for ck in best:
        c = by_key[ck]
        if c.get("hop_type") == "consume":
            attempts.setdefault((message[ck], c["service"], c.get("topic"), c.get("cgroup")),
                                []).append(ck)
    retry_children: set[Key] = set()
    for group in attempts.values():
        for prev, nxt in _after_failures(group, by_key, ended=True):
            best[nxt] = prev
            retry_children.add(nxt)
    # Re-sends: a publish under a delivery of its own message (the same id, destination and
    # service) sends that message again (Celery's and Taskiq's self.retry, ActiveJob's
    # retry_on): its next delivery waited out the retry's delay, not a busy queue.
    for ck, pk in best.items():
        if by_key[ck].get("hop_type") == "consume" and _resent(pk, parent, best, by_key):
            retry_children.add(ck)
    async_children: set[Key] = set()
    for ck, pk in best.items():
        # Never let an async edge close a cycle (a link back into one's own ancestors).
        a, hops = pk, 0
        while a in parent and a != ck and hops < 10_000:
            a, hops = parent[a], hops + 1
        if a == ck:
            continue
        parent[ck] = pk
        async_children.add(ck)
    # Cycles can still arise through several async edges; break them by cutting the edge
    # into whichever node cannot reach a root.
    roots = [k for k in by_key if k not in parent]
    children: dict[Key, list[Key]] = {}
    for c, p in parent.items():
        children.setdefault(p, []).append(c)
    reached = _reach(roots, children)
    if len(reached) < len(by_key):
        for k in sorted(set(by_key) - reached, key=lambda x: by_key[x]["t0"]):
            if k in reached:
                continue
            p = parent.pop(k)
            children[p].remove(k)
            async_children.discard(k)
            roots.append(k)
            reached |= _reach([k], children)

    # Times, clipped top-down: the server of a synchronous call (another service's child
    # of a CLIENT span, with a duration no longer than the client's) inside its client, as
    # the two clocks may disagree (_waited_for); any other child no earlier than its
    # parent's (or producer's) start: it may legitimately end later. A consumer follows
    # its producer; a child in its parent's service shares its clock, and one that
    # outlives its parent is work handed on in-process (SmallRye's handler under its
    # instant receive span, a task spawned by a request); so is another service's work
    # that its parent did not wait for (a Temporal activity under the workflow's
    # zero-length start span, a Hangfire job under its enqueue).
    t0: dict[Key, int] = {}
    t1: dict[Key, int] = {}
    depth: dict[Key, int] = {}
    order: list[Key] = []
    skewed = 0
    stack = sorted(roots, key=lambda x: by_key[x]["t0"], reverse=True)
    for r in stack:
        t0[r], t1[r], depth[r] = by_key[r]["t0"], by_key[r]["t1"], 0
    while stack:
        k = stack.pop()
        order.append(k)
        for c in children.get(k, ()):
            s, e = by_key[c]["t0"], by_key[c]["t1"]
            ps, pe = t0[k], t1[k]
            if c in async_children or not _waited_for(by_key[k], by_key[c]):
                ns = max(s, ps)
                ne = max(e, ns)
            else:
                ns = min(max(s, ps), pe)
                ne = min(max(e, ns), pe)
            if ns != s or ne != e:
                skewed += 1
            t0[c], t1[c], depth[c] = ns, ne, depth[k] + 1
            stack.append(c)

    # Completion: when a span's whole causal subtree is done.
    done: dict[Key, int] = {}
    for k in reversed(order):
        d = t1[k]
        for c in children.get(k, ()):
            if done[c] > d:
                d = done[c]
        done[k] = d

    repeated = _repeated_edges(roots, children, by_key)
    if len(roots) == 1:
        root = roots[0]
    else:
        root = _ROOT
        children[_ROOT] = list(roots)
        start = min(t0[r] for r in roots)
        t0[_ROOT] = t1[_ROOT] = start
        done[_ROOT] = max(done[r] for r in roots)
        async_children.update(roots)

    segments: list[Segment] = []
    work: list[tuple[Key, int]] = [(root, done[root])]
    while work:
        n, upto = work.pop()
        ns, ne = t0[n], t1[n]
        sp = by_key.get(n)
        own = _span_hop(sp) if sp is not None else ("wait", "")
        cur = upto
        gap = ("wait", "")  # the delivery whose consumer starts at `cur`: time past n's end
        for c in sorted(children.get(n, ()), key=done.__getitem__, reverse=True):
            if cur <= ns:
                break
            cd = done[c]
            if cd > cur:
                continue  # overlaps a later path child; CRISP skips it
            _emit(segments, n, cd, cur, ne, own, gap)
            work.append((c, cd))
            cur = t0[c]
            if c in retry_hop:
                gap = ("retry", retry_hop[c])
            elif c in by_key and n != _ROOT and (
                    c in async_children or by_key[c].get("hop_type") == "consume"):
                # (a delivery joined to no producer waited in its queue all the same: PHP's
                # first rdkafka instrumentation opens the consumer under the request span)
                gap = ("retry" if c in retry_children else "queue", _delivery_hop(by_key[c]))
            else:
                gap = ("wait", "")
        _emit(segments, n, ns, cur, ne, own, gap)

    segments.sort(key=lambda g: (g.start, g.end))
    by_hop: dict[tuple[str, str], int] = {}
    seen: set[Key] = set()
    path: list[Key] = []
    for g in segments:
        by_hop[(g.hop, g.kind)] = by_hop.get((g.hop, g.kind), 0) + (g.end - g.start)
        if g.span != _ROOT and g.span not in seen:
            seen.add(g.span)
            path.append(g.span)
    # Spans entered with a zero-length segment (e.g. a consumer that did nothing itself) are
    # still on the path when one of their causal descendants is.
    on = set(path)
    for k in list(on):
        a = parent.get(k)
        while a is not None and a not in on:
            on.add(a)
            a = parent.get(a)
    path = sorted(on, key=lambda k: (t0[k], depth[k]))
    return CriticalPath(t0[root], done[root], segments, path, depth,
                        {k: v for k, v in parent.items()}, async_children - {_ROOT}, skewed,
                        by_hop, repeated, frozenset(retry_children | retry_hop.keys()))


def _after_failures(attempts: list[Key], by_key: dict[Key, dict[str, Any]],
                    ended: bool = False) -> list[tuple[Key, Key]]:
    """(failed attempt, the attempt after it) pairs of attempts at one piece of work, in
    time order: the next attempt follows the failure, not the work's sender. With
    ``ended``, an attempt that had ended before the next began failed too."""
    ordered = sorted(attempts, key=lambda k: (by_key[k]["t0"], k))
    return [(prev, nxt) for prev, nxt in zip(ordered, ordered[1:])
            if by_key[prev].get("err") or (ended and by_key[prev]["t1"] <= by_key[nxt]["t0"])]


def _resent(pk: Key, parent: dict[Key, Key], best: dict[Key, Key],
            by_key: dict[Key, dict[str, Any]]) -> bool:
    """Whether the producer span ``pk`` sends again a message its service was handling: an
    ancestor of it (within its trace) is a delivery of the same message id from the same
    destination in the same service. A delivery naming no id has its producer's (Taskiq's
    execute span names none, its send does)."""
    sp = by_key[pk]
    mid = sp.get("msg_id")
    if not mid or sp.get("role") != "P":
        return False
    a, hops = parent.get(pk), 0
    while a is not None and hops < 64:
        s = by_key[a]
        if s.get("role") == "C" and s.get("topic") == sp.get("topic") \
                and s.get("service") == sp.get("service"):
            got = s.get("msg_id") or (by_key[best[a]].get("msg_id") if a in best else None)
            if got == mid:
                return True
        a, hops = parent.get(a), hops + 1
    return False


def _waited_for(parent: dict[str, Any], child: dict[str, Any]) -> bool:
    """Whether ``child`` is the server of a synchronous call ``parent`` waited for: a
    CLIENT span's child in another service that lasted, but no longer than the client did
    (what analyzer_hops counts as a call's clock skew when it lies outside its client)."""
    if parent.get("kind") != "CLIENT" or child.get("service") == parent.get("service"):
        return False
    if child.get("kind") != "SERVER" and child["t0"] >= parent["t1"]:
        return False  # (handed on once the client had ended, as the SQL macro call_waited)
    d = child["t1"] - child["t0"]
    return 0 < d <= parent["t1"] - parent["t0"]


def _emit(out: list[Segment], n: Key, a: int, b: int, n_end: int,
          own: tuple[str, str], gap: tuple[str, str]) -> None:
    """Attribute ``[a, b)`` of node ``n``: its own span time, then waiting past its end."""
    if b <= a:
        return
    mid = min(max(n_end, a), b)
    if mid > a:
        out.append(Segment(n, a, mid, own[0], own[1]))
    if b > mid:
        out.append(Segment(n, mid, b, gap[0], gap[1]))


def _reach(roots: Iterable[Key], children: dict[Key, list[Key]]) -> set[Key]:
    seen: set[Key] = set()
    stack = list(roots)
    while stack:
        k = stack.pop()
        if k in seen:
            continue
        seen.add(k)
        stack.extend(children.get(k, ()))
    return seen
