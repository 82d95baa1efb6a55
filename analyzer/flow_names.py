"""Names that tell flow types apart (pure functions).

A flow type is named by its entry, ``POST /orders (order-service)``, but one entry often
starts several types: the same request taking another path (a payment retried into its
dead-letter queue, an order whose stock ran low, the orchestrated and the choreographed
version of one checkout). A list of six rows named ``POST /orders (order-service)`` tells
a user nothing, so every type sharing its name with another gets a ``variant``:

- what it reaches that not all the others of its name do, the rarest first:
  ``with order.placed.dlq``;
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
            for f, variant in zip(group, _variants([list(f.get("hops") or ()) for f in group])):
                f["variant"] = variant


def _variants(hop_lists: Sequence[Sequence[str]]) -> list[str]:
    """One distinct label per flow type of a group sharing a name (see the module doc)."""
    nodes = [{n for h in hops for n in h.split("->", 1)} for hops in hop_lists]
    hops = [set(h) for h in hop_lists]
    labels: list[str | None] = [None] * len(hops)
    for sets, show in ((nodes, node_name), (hops, _hop_name)):
        taken = Counter(labels)
        todo = [i for i, lab in enumerate(labels) if lab is None or taken[lab] > 1]
        if not todo:
            break
        choices = _choices(sets, show)
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


def _choices(sets: Sequence[set[str]], show: Callable[[str], str]
             ) -> list[tuple[str, list[str]]]:
    """Per type: ``("with", elements only some types have, rarest first)`` or, where it has
    none, ``("without", elements others have and it lacks, the most common first)``."""
    count = Counter(x for s in sets for x in s)
    everywhere = {x for x, c in count.items() if c == len(sets)}
    out = []
    for s in sets:
        own = sorted(s - everywhere, key=lambda x: (count[x], show(x)))
        if own:
            out.append(("with", [show(x) for x in own]))
        else:
            lacks = sorted(set(count) - s, key=lambda x: (-count[x], show(x)))
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


def _hop_name(hop: str) -> str:
    a, _, b = hop.partition("->")
    return f"{node_name(a)} → {node_name(b)}"
