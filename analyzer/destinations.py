"""Destinations named per entity, shown as one topic: ``sensors/dev-17/temp`` and its
thousand siblings are the node ``sensors/dev-{id}/temp``.

Many systems publish to a destination per device, tenant, user or order: MQTT topics per
device, Redis channels per session, NATS subjects ``orders.<id>.created``, Kafka topics per
tenant. Each name is a topic node of its own, so such a store's map has a node per entity
and its flows page a flow type per entity, all with the same structure. The current
conventions give the low-cardinality name in ``messaging.destination.template`` (the
decoders prefer it when a span has it); most instrumentation does not set it.

So the analyzer groups names itself, in two ways (pure functions, no I/O):

* a template the instrumentation gave (a name holding ``{...}``) stands for every other
  name that it matches, a placeholder standing for one or more characters other than the
  separators ``/ . :``: old and new instrumentation of one system meet at one node;
* of the other names, a part that looks like an identifier (a number, a UUID, a hex hash of
  8 or more characters, a token of 16 or more letters and digits, or the number ending a
  word: ``dev17``) is replaced by ``{id}``, and the names of one such template are grouped
  when there are at least :data:`MIN_NAMES` of them. Below that they stay apart: three
  versions ``orders.1``, ``orders.2``, ``orders.3`` are three topics, as are the shards of
  a small sharded queue; a name is never merged for one look-alike.

A name is grouped the same way whatever its messaging system, so a producer and a consumer
of one destination always end at the same node (the analysis joins them by it). The
decision is made over the store's span shapes, not a window's spans, so a topic keeps its id
from one window to the next.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable

# At least this many distinct names of one heuristic template are grouped into it.
MIN_NAMES = 10
PLACEHOLDER = "{id}"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}")
_TOKEN = re.compile(r"[A-Za-z0-9]+")
_HEX = re.compile(r"[0-9a-fA-F]{8,}")
_WORD_NUMBER = re.compile(r"([A-Za-z]+)([0-9]+)")
_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")
# A placeholder of an instrumentation's template: {name}
_TEMPLATE_PART = re.compile(r"\{[^{}/]*\}")
# What a placeholder matches: one or more characters, none a separator of levels.
_SLOT = r"[^/.:]+"


def _token(tok: str) -> str:
    """The token, or its identifier part replaced by the placeholder."""
    if tok.isdigit():
        return PLACEHOLDER
    has_digit = _DIGIT.search(tok) is not None
    if has_digit and _HEX.fullmatch(tok):
        return PLACEHOLDER  # a hash, an ObjectId
    if has_digit and len(tok) >= 16 and _LETTER.search(tok):
        return PLACEHOLDER  # a ULID, a NUID, a random token
    m = _WORD_NUMBER.fullmatch(tok)
    if m:
        return m.group(1) + PLACEHOLDER  # dev17, tenant42
    return tok


def heuristic_template(name: str) -> str | None:
    """The name with its identifier-like parts replaced by ``{id}``, or None if it has none."""
    out = _UUID.sub(PLACEHOLDER, name)
    out = _TOKEN.sub(lambda m: _token(m.group(0)), out)
    return out if out != name else None


def is_template(name: str) -> bool:
    """Whether the name is a template (it holds a ``{...}`` placeholder)."""
    return _TEMPLATE_PART.search(name) is not None


def _template_regex(template: str) -> re.Pattern[str]:
    parts = _TEMPLATE_PART.split(template)
    return re.compile(_SLOT.join(re.escape(p) for p in parts))


def group_names(names: Iterable[str], min_names: int = MIN_NAMES) -> dict[str, str]:
    """Each destination name that is grouped -> the name of its group (names not grouped are
    left out). ``names`` are topic names as the analyzer decides them; names in parentheses
    (``(temporary:nats)``), ``unknown`` and templates themselves are never mapped."""
    pool = sorted({n for n in names if n and not n.startswith("(") and n != "unknown"})
    templates = [n for n in pool if is_template(n)]
    out: dict[str, str] = {}
    if templates:
        # (longest first: the most specific template a name matches wins)
        regexes = [(t, _template_regex(t))
                   for t in sorted(templates, key=lambda t: (-len(t), t))]
        for n in pool:
            if n in templates:
                continue
            for t, rx in regexes:
                if rx.fullmatch(n):
                    out[n] = t
                    break
    by_template: dict[str, list[str]] = defaultdict(list)
    for n in pool:
        if n in out or n in templates:
            continue
        t = heuristic_template(n)
        if t is not None:
            by_template[t].append(n)
    for t, members in by_template.items():
        if len(members) >= min_names:
            for n in members:
                out[n] = t
    return out


def grouped_words(text: str, groups: dict[str, str]) -> str:
    """``text`` (a span name: ``send sensors/dev-17/temp``) with each word that is a grouped
    destination name replaced by its group's, so that what names a flow type names all its
    flows, not one device's."""
    if not groups:
        return text
    return " ".join(groups.get(w, w) for w in text.split(" "))


# A Redis channel named as FastStream names a request's reply channel: a NUID, 22 random
# letters and digits.
_NUID = re.compile(r"[0-9A-Za-z]{22}")
_UPPER = re.compile(r"[A-Z]")
_LOWER = re.compile(r"[a-z]")
REDIS_REPLIES = "(temporary:redis)"


def reply_channels(shapes: Iterable[tuple[str, str | None, str | None, str]]
                   ) -> dict[str, str]:
    """Each Redis channel that is a request's reply channel though its name alone did not
    say so -> ``(temporary:redis)``. ``shapes`` are the store's (topic, messaging system,
    role ``P``/``C``/None, service) rows.

    FastStream names a Redis reply channel by a fresh NUID. The analyzer's ``msg_topic``
    (and the collector, which stores such a name as ``(temporary)``) takes a NUID by its
    letters: one with a digit, or with six or more of each case, as a CamelCase channel
    name seldom is. About one NUID in 3,000 has neither (no digit, one in fifty, and under
    six of one case) and would be a node of its own, with its one message. Such a name is
    taken here for what it is by where it carries messages: back to a service that sent
    a message its publishers received (a request answered), or, with no consumer seen,
    in a store whose other replies on Redis were recognised."""
    rows = [(t, (s or "").lower(), r, svc) for t, s, r, svc in shapes]
    sends: dict[str, set[str]] = defaultdict(set)  # service -> topics it publishes
    gets: dict[str, set[str]] = defaultdict(set)  # service -> topics it consumes
    pubs: dict[str, set[str]] = defaultdict(set)  # topic -> its publishers
    cons: dict[str, set[str]] = defaultdict(set)  # topic -> its consumers
    for t, _, r, svc in rows:
        if r == "P":
            sends[svc].add(t)
            pubs[t].add(svc)
        elif r == "C":
            gets[svc].add(t)
            cons[t].add(svc)
    have_replies = any(t == REDIS_REPLIES for t, *_ in rows)
    out: dict[str, str] = {}
    for t in sorted({t for t, s, _, _ in rows if s == "redis" and _NUID.fullmatch(t)
                     and _UPPER.search(t) and _LOWER.search(t)}):
        if not pubs[t]:
            continue
        answered = any((sends[c] & gets[p]) - {t} for c in cons[t] for p in pubs[t])
        if answered or (not cons[t] and have_replies):
            out[t] = REDIS_REPLIES
    return out
