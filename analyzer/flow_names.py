"""Names that tell flow types apart (pure functions).

A flow type is named by its entry, ``POST /orders (order-service)``, but one entry often
starts several types: the same request taking another path (a payment retried into its
dead-letter queue, an order whose stock ran low, the orchestrated and the choreographed
version of one checkout). A list of six rows named ``POST /orders (order-service)`` tells
a user nothing, so every type sharing its name with another gets a ``variant``:

- what it reaches that not all the others of its name do, the rarest first and, of the
  equally rare, the nearest to the entry (where its path parts from the others'):
  ``with order.placed.dlq``, beside ``with payment.completed``;
- if it reaches nothing of its own, what others of its name reach that it does not:
  ``without email-service``;
- if its services and topics are all the others', the hops only it takes:
  ``with payment-service → order.confirmed``.

One element is named where one tells the types apart, more where needed. The variant is
decided by the types' hops, not by their counts, so a name does not change from one
refresh to the next because two types swapped places in the list.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Callable, Iterable, Mapping, Sequence

from analyzer.model import node_name


def flow_title(flow: Mapping[str, Any]) -> str:
    """A flow type's name with its variant, as lists show it:
    ``POST /orders (order-service) · with order.placed.dlq``."""
    name = str(flow.get("name") or flow.get("id") or "")
    return f"{name} · {flow['variant']}" if flow.get("variant") else name


def add_variants(flows: Sequence[dict[str, Any]]) -> None:
    """Set ``variant`` on every flow type (``None`` where its name is its own)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in flows:
        f["variant"] = None
        groups[str(f.get("name"))].append(f)
    for group in groups.values():
        if len(group) > 1:
            types = [(list(f.get("hops") or ()), f"service:{f.get('entry_service')}")
                     for f in group]
            for f, variant in zip(group, _variants(types)):
                f["variant"] = variant


def _variants(types: Sequence[tuple[Sequence[str], str]]) -> list[str]:
    """One distinct label per flow type (its hops, its entry node) of a group sharing a
    name (see the module doc)."""
    nodes = [{n for h in hops for n in h.split("->", 1)} for hops, _ in types]
    hops = [set(h) for h, _ in types]
    depths = [_depths(h, entry) for h, entry in types]
    labels: list[str | None] = [None] * len(hops)
    for sets, show, at in ((nodes, node_name, lambda x: x),
                           (hops, _hop_name, lambda x: x.partition("->")[0])):
        taken = Counter(labels)
        todo = [i for i, lab in enumerate(labels) if lab is None or taken[lab] > 1]
        if not todo:
            break
        choices = _choices(sets, show, [{x: d.get(at(x), _FAR) for x in s}
                                        for s, d in zip(sets, depths)])
        for i in todo:
            labels[i] = None
        _pick(labels, todo, choices)
    # (types alike in every hop cannot be: a type is its set of hops; but keep labels
    # distinct whatever comes in)
    seen: Counter[str] = Counter()
    out = []
    for lab in labels:
        lab = lab or "other"
        seen[lab] += 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out


def _choices(sets: Sequence[set[str]], show: Callable[[str], str],
             depth: Sequence[dict[str, int]]) -> list[tuple[str, list[str]]]:
    """Per type: ``("with", elements only some types have, rarest first, then nearest its
    entry)`` or, where it has none, ``("without", elements others have and it lacks, the
    most common first, then the nearest any entry)``."""
    count = Counter(x for s in sets for x in s)
    everywhere = {x for x, c in count.items() if c == len(sets)}
    nearest: dict[str, int] = {}
    for d in depth:
        for x, v in d.items():
            nearest[x] = min(v, nearest.get(x, _FAR))
    out = []
    for s, d in zip(sets, depth):
        own = sorted(s - everywhere, key=lambda x: (count[x], d[x], show(x)))
        if own:
            out.append(("with", [show(x) for x in own]))
        else:
            lacks = sorted(set(count) - s, key=lambda x: (-count[x], nearest[x], show(x)))
            out.append(("without", [show(x) for x in lacks]))
    return out


def _pick(labels: list[str | None], todo: Iterable[int],
          choices: Sequence[tuple[str, list[str]]]) -> None:
    """Give each type in ``todo`` the fewest of its elements that make its label differ
    from every other label of the group."""
    todo = list(todo)
    k = 1
    while todo:
        for i in todo:
            word, elems = choices[i]
            labels[i] = f"{word} {', '.join(elems[:k])}" if elems else None
        longest = max(len(choices[i][1]) for i in todo)
        taken = Counter(labels)
        todo = [i for i in todo if labels[i] is not None and taken[labels[i]] > 1
                and k < len(choices[i][1])]
        k += 1
        if k > longest:
            break


_FAR = 1 << 30  # (the depth of a node no hop from the entry reaches)


def _depths(hops: Sequence[str], entry: str) -> dict[str, int]:
    """How many hops from ``entry`` each node of a flow type is (breadth first)."""
    nxt: dict[str, list[str]] = defaultdict(list)
    for h in hops:
        a, _, b = h.partition("->")
        nxt[a].append(b)
    depth = {entry: 0}
    frontier = [entry]
    while frontier:
        later = []
        for n in frontier:
            for m in nxt[n]:
                if m not in depth:
                    depth[m] = depth[n] + 1
                    later.append(m)
        frontier = later
    return depth


def _hop_name(hop: str) -> str:
    a, _, b = hop.partition("->")
    return f"{node_name(a)} → {node_name(b)}"
