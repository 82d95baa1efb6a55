"""Names that tell flow types apart (pure functions).

A flow type is named by its entry, ``POST /orders (order-service)``, but one entry often
starts several types: the same request taking another path (a payment retried into its
dead-letter queue, an order whose stock ran low, the orchestrated and the choreographed
version of one checkout). A list of six rows named ``POST /orders (order-service)`` tells
a user nothing, so every type sharing its name with another gets a ``variant``: the fewest
facts about the services, topics and externals it reaches that hold for it and for no
other type of its name, ``with order.placed.dlq``, ``with order.confirmed, without
inventory.low_stock``; where its nodes are all another's, about the hops only it takes,
``with orders → billing``.

Facts are chosen greedily, each ruling out the most other types; of facts as strong, one it
reaches before one it lacks, then a rarer one, then the one nearest the entry (where its
path parts from the others'). The variant is decided by the types' hops, not by their
counts, so a name does not change from one refresh to the next as counts shift.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Callable, Mapping, Sequence

from analyzer.model import node_name

# At most this many facts name a type (more would not be read); past them a label may be
# another's, and is numbered.
MAX_FACTS = 3
_FAR = 1 << 30  # (the depth of a node no hop from the entry reaches)


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
    node_at = [{x: d.get(x, _FAR) for x in s} for s, d in zip(nodes, depths)]
    hop_at = [{x: d.get(x.partition("->")[0], _FAR) for x in s} for s, d in zip(hops, depths)]
    labels = []
    for i in range(len(types)):
        others = set(range(len(types))) - {i}
        facts = _facts(i, others, nodes, node_at, node_name)
        if others and len(facts) < MAX_FACTS:  # (its nodes are all some other type's)
            facts += _facts(i, others, hops, hop_at, _hop_name, MAX_FACTS - len(facts))
        labels.append(_say(facts))
    seen: Counter[str] = Counter()
    out = []
    for lab in labels:
        seen[lab] += 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out


def _facts(i: int, others: set[int], sets: Sequence[set[str]],
           depth: Sequence[dict[str, int]], show: Callable[[str], str],
           most: int = MAX_FACTS) -> list[tuple[str, str]]:
    """Greedily, up to ``most`` facts ``("with" | "without", element)`` that hold for type
    ``i`` and rule out the types in ``others`` (left holding those none ruled out)."""
    count = Counter(x for s in sets for x in s)
    nearest: dict[str, int] = {}
    for d in depth:
        for x, v in d.items():
            nearest[x] = min(v, nearest.get(x, _FAR))
    mine = sets[i]
    facts: list[tuple[str, str]] = []
    while others and len(facts) < most:
        best: tuple[tuple[Any, ...], tuple[str, str], set[int]] | None = None
        # (the smallest key is the best fact)
        for x in mine:
            gone = {j for j in others if x not in sets[j]}
            key = (-len(gone), 0, count[x], depth[i][x], show(x))
            if gone and (best is None or key < best[0]):
                best = (key, ("with", show(x)), gone)
        for y in set(count) - mine:
            gone = {j for j in others if y in sets[j]}
            key = (-len(gone), 1, -count[y], nearest[y], show(y))
            if gone and (best is None or key < best[0]):
                best = (key, ("without", show(y)), gone)
        if best is None:
            break
        facts.append(best[1])
        others -= best[2]
    return facts


def _say(facts: Sequence[tuple[str, str]]) -> str:
    """``with a, b, without c``: what it has first, then what it lacks."""
    parts = []
    for word in ("with", "without"):
        names = [x for w, x in facts if w == word]
        if names:
            parts.append(f"{word} {', '.join(names)}")
    return ", ".join(parts) or "other"


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
