"""Coordination style of a flow type: choreography, orchestration or hybrid.

The measure is structural and uses only the flow type's hops:

* a *trigger* is one service starting work in another: a call ``A -> B`` (synchronous), or a
  message ``A -> topic -> B`` (asynchronous), also when the broker routed it to another
  destination on the way (``A -> exchange -> queue -> B``);
* the *central* service is the one that decides the most others -- calls them, or sends
  them a message and later receives their answer -- if it decides at least two (one call is
  a dependency, not coordination);
* a trigger is *orchestrated* when the central service decides it: its own calls, its
  commands that the target answers later with a message back to it, and those replies;
* a trigger is *event-driven* when a service reacts to a message whose publisher does not
  wait for an answer. Calls between other services are request/response dependencies and a
  call into the central service is the request that starts the work: both are reported but
  are not coordination, so they are not counted.
* a request sent as a message and answered on a temporary destination (a NATS inbox, a
  RabbitMQ reply queue: the answer comes back to whoever asked, named anew each time) is a
  call made over the broker: counted as one, and its reply with it, never as events.

Then ``orchestration`` when at least 3/4 of the counted triggers are orchestrated,
``choreography`` when at least 3/4 are event-driven, ``hybrid`` otherwise, and ``none``
when nothing is coordinated (a single service, or only synchronous dependencies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

THRESHOLD = 0.75


@dataclass(frozen=True)
class Trigger:
    src: str      # service name
    dst: str      # service name
    sync: bool
    at: float     # typical offset from flow start (ms); orders command before reply
    reply: bool = False  # a message back on a temporary destination: a request's answer


def triggers(hops: Iterable[tuple[str, str, str]], offsets: dict[str, float]) -> list[Trigger]:
    """Triggers of a flow type from its hops ``(type, source_id, target_id)``.

    ``offsets``: edge id -> typical start offset within the flow (ms) of that hop.
    """
    pubs: dict[str, set[str]] = {}
    subs: dict[str, list[tuple[str, str]]] = {}
    routed_from: dict[str, set[str]] = {}  # destination -> destinations routed into it
    out: list[Trigger] = []
    for typ, src, dst in hops:
        if typ == "call" and src.startswith("service:") and dst.startswith("service:"):
            if src != dst:
                out.append(Trigger(src[8:], dst[8:], True, offsets.get(f"{src}->{dst}", 0.0)))
        elif typ == "publish":
            pubs.setdefault(dst, set()).add(src[8:])
        elif typ == "consume":
            subs.setdefault(src, []).append((dst[8:], f"{src}->{dst}"))
        elif typ == "route":
            routed_from.setdefault(dst, set()).add(src)
    for topic, consumers in subs.items():
        publishers: set[str] = set()
        for t in _upstream(topic, routed_from):
            publishers |= pubs.get(t, set())
        # (what the analyzer names the reply inboxes of each system: "(temporary:nats)")
        reply = topic.startswith("topic:(temporary")
        for producer in sorted(publishers):
            for consumer, edge in consumers:
                if consumer != producer:
                    out.append(Trigger(producer, consumer, False, offsets.get(edge, 0.0),
                                       reply))
    return out


def _asks(t: Trigger, trig: list[Trigger]) -> bool:
    """Whether ``t`` is a request sent as a message that its target answers on a temporary
    destination: a call made over the broker."""
    return not t.sync and not t.reply and any(
        r.reply and r.src == t.dst and r.dst == t.src and r.at >= t.at for r in trig)


def _upstream(topic: str, routed_from: dict[str, set[str]]) -> set[str]:
    """``topic`` and every destination whose messages the broker routes into it."""
    seen = {topic}
    todo = [topic]
    while todo:
        for src in routed_from.get(todo.pop(), ()):
            if src not in seen:
                seen.add(src)
                todo.append(src)
    return seen


def classify(hops: Iterable[tuple[str, str, str]], offsets: dict[str, float],
             entry: str | None = None) -> dict:
    """Style, the measure behind it and a sentence explaining it, for one flow type."""
    trig = triggers(hops, offsets)
    if not trig:
        return {"style": "none", "measure": {"triggers": 0},
                "explanation": "no service starts work in another service in this flow"}
    # What each service decides: targets it calls, or sends a message to and later hears
    # back from. Publishing events that nobody answers is not deciding anything.
    decides: dict[str, set[str]] = {}
    for t in trig:
        if t.sync or any(r.src == t.dst and r.dst == t.src and not r.sync and r.at >= t.at
                         for r in trig):
            decides.setdefault(t.src, set()).add(t.dst)
    central: str | None = None
    if decides:
        central = max(decides, key=lambda s: (len(decides[s]), s == entry, s))
        if len(decides[central]) < 2:
            central = None
    orchestrated = events = other_sync = ingress = 0
    for t in trig:
        asks = _asks(t, trig)
        if central is not None and t.src == central:
            if t.sync or asks:
                orchestrated += 1
            elif t.reply:
                ingress += 1  # (its answer to a request made of it)
            elif any(r.src == t.dst and r.dst == central and not r.sync and r.at >= t.at
                     for r in trig):
                orchestrated += 1  # a command answered by a reply
            else:
                events += 1
        elif central is not None and t.dst == central:
            if any(c.src == central and c.dst == t.src and c.at <= t.at for c in trig):
                orchestrated += 1  # the reply to a command or call of the central service
            elif t.sync or asks:
                ingress += 1
            else:
                events += 1
        elif t.sync or asks or t.reply:
            other_sync += 1  # (a request over the broker and its answer: a call)
        else:
            events += 1
    total = orchestrated + events
    measure = {
        "triggers": len(trig), "counted": total, "central_service": central,
        "orchestrated": orchestrated, "event_driven": events, "other_sync": other_sync,
        "ingress_calls": ingress,
        "orchestrated_share": round(orchestrated / total, 3) if total else 0.0,
        "event_share": round(events / total, 3) if total else 0.0,
    }
    if total == 0:
        return {"style": "none", "measure": measure,
                "explanation": (f"only synchronous dependencies ({other_sync + ingress} "
                                f"calls) and no service coordinating several others")}
    o, e = orchestrated / total, events / total
    if o >= THRESHOLD:
        style = "orchestration"
    elif e >= THRESHOLD:
        style = "choreography"
    else:
        style = "hybrid"
    if central is not None:
        parts = [f"{central} decides {orchestrated} of {total} hops between services "
                 f"(its calls, and commands it awaits replies to)"]
    else:
        parts = ["no service coordinates two or more others"]
    parts.append(f"{events} of {total} are triggered by events whose publisher does not wait")
    if other_sync:
        parts.append(f"{other_sync} further synchronous calls between other services are "
                     f"dependencies, not coordination")
    return {"style": style, "measure": measure,
            "explanation": "; ".join(parts) + f" -> {style}"}
