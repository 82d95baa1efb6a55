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

import networkx as nx

from analyzer.model import element_title, node_name

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
    by_node = _Elements(nodes, depths, lambda x: x, node_name)
    by_hop = _Elements(hops, depths, lambda x: x.partition("->")[0], element_title)
    everyone = (1 << len(types)) - 1
    labels = []
    for i in range(len(types)):
        others = everyone & ~(1 << i)
        facts, others = by_node.facts(i, others, MAX_FACTS)
        if others and len(facts) < MAX_FACTS:  # (its nodes are all some other type's)
            facts += by_hop.facts(i, others, MAX_FACTS - len(facts))[0]
        labels.append(_say(facts))
    seen: Counter[str] = Counter()
    out = []
    for lab in labels:
        seen[lab] += 1
        out.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
    return out


class _Elements:
    """The elements (nodes, or hops) of a group's types, each with the set of types that
    have it as a bit mask (type ``j`` is bit ``j``): a fact rules out a set of types in a
    few integer operations, so a group of hundreds of types (a gateway whose every route
    is one span name) is named in well under a second."""

    def __init__(self, sets: Sequence[set[str]], depths: Sequence[dict[str, int]],
                 node_of: Callable[[str], str], show: Callable[[str], str]) -> None:
        self.sets = sets
        self.mask: dict[str, int] = defaultdict(int)
        for j, s in enumerate(sets):
            for x in s:
                self.mask[x] |= 1 << j
        self.count = {x: m.bit_count() for x, m in self.mask.items()}
        # how far from its type's entry each element is, and from the nearest entry
        self.depth = [{x: d.get(node_of(x), _FAR) for x in s} for s, d in zip(sets, depths)]
        self.nearest: dict[str, int] = {}
        for d in self.depth:
            for x, v in d.items():
                self.nearest[x] = min(v, self.nearest.get(x, _FAR))
        self.names = {x: show(x) for x in self.mask}

    def facts(self, i: int, others: int, most: int) -> tuple[list[tuple[str, str]], int]:
        """Greedily, up to ``most`` facts ``("with" | "without", element)`` that hold for
        type ``i`` and rule out the types of the mask ``others``; and the mask of those none
        ruled out."""
        mine = self.sets[i]
        facts: list[tuple[str, str]] = []
        while others and len(facts) < most:
            best: tuple[tuple[Any, ...], tuple[str, str], int] | None = None
            # (the smallest key is the best fact)
            for x in mine:
                gone = others & ~self.mask[x]
                if gone:
                    key = (-gone.bit_count(), 0, self.count[x], self.depth[i][x],
                           self.names[x])
                    if best is None or key < best[0]:
                        best = (key, ("with", self.names[x]), gone)
            for y, m in self.mask.items():
                gone = others & m
                if gone and y not in mine:
                    key = (-gone.bit_count(), 1, -self.count[y], self.nearest[y],
                           self.names[y])
                    if best is None or key < best[0]:
                        best = (key, ("without", self.names[y]), gone)
            if best is None:
                break
            facts.append(best[1])
            others &= ~best[2]
        return facts, others


def _say(facts: Sequence[tuple[str, str]]) -> str:
    """``with a, b, without c``: what it has first, then what it lacks."""
    parts = []
    for word in ("with", "without"):
        names = [x for w, x in facts if w == word]
        if names:
            parts.append(f"{word} {', '.join(names)}")
    return ", ".join(parts) or "other"


def _depths(hops: Sequence[str], entry: str) -> dict[str, int]:
    """How many hops from ``entry`` each node of a flow type is."""
    g = nx.DiGraph(h.split("->", 1) for h in hops)
    g.add_node(entry)
    return nx.single_source_shortest_path_length(g, entry)
