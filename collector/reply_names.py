"""Reply destinations, named anew for every request, stored under one name.

A request/reply over a broker answers on a destination made for that request: a NATS inbox
(``_INBOX.<nuid>``), a RabbitMQ server-named or direct reply-to queue (aio-pika names it
``amq_<uuid>``), an ActiveMQ Artemis or IBM MQ dynamic queue, FastStream's Redis reply
channel (a NUID). The conventions name
such a destination ``(temporary)`` in span names; some instrumentations name it by its
generated name, in ``messaging.destination.name`` and in the span's name
(``_INBOX.hrxm…Olm79aa publish``). Stored as sent, every reply would make a span shape of
its own (``span_shapes``: service, name, kind, destination, …), and a store answering
100k requests would hold 200k shapes, which every analysis joins to its spans (measured:
+47% analysis time on a 200k-span store where a fifth of the spans were replies).

So the decoders store a temporary destination as ``(temporary)`` (kind ``temporary``) and
write ``(temporary)`` for its name inside the span's name, as the conventions ask. The
name it had stays in the span's attributes, where the span's detail shows it.

Which names are temporary is the analyzer's ``msg_topic`` rule
(``choreoscope/sql/analyzer.sql``), which still reads stores written before this; the two
are checked against each other (tests/test_reply_names.py). Pure functions over Arrow
tables: no I/O.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

TEMPORARY = "(temporary)"

# Names brokers generate for reply destinations (msg_topic's list), and a URI naming one
# (IBM MQ's JMS classes: queue://QM1/AMQ.5F3A…).
_GENERATED = re.compile(
    r"_INBOX\.|amq\.gen-|spring\.gen-|amq\.rabbitmq\.reply-to|AMQ\.|CSQ\."
    r"|amq_[0-9a-f]{32}$"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# The cheap first pass over a batch's distinct destinations' names: a superset of what
# is_temporary accepts (a NUID is asked of Redis spans only, there).
_CANDIDATE = re.compile(
    r"(?:_INBOX\.|amq\.gen-|spring\.gen-|amq\.rabbitmq\.reply-to|AMQ\.|CSQ\.|amq_"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$|[0-9A-Za-z]{22}$)")
_NUID = re.compile(r"[0-9A-Za-z]{22}")
_ARN = re.compile(r"arn:aws[a-z-]*:(sns|sqs):[^:]*:[^:]*:[^:/]+")


def _name(dest: str) -> str:
    """The name a destination is known by: the analyzer's ``destination_name`` (an IBM MQ
    URI's queue or topic, an SNS or SQS ARN's last part)."""
    if dest.startswith("queue://"):
        m = re.match(r"queue://[^/]*/([^?]*)", dest)
        return m.group(1) if m else ""
    if dest.startswith("topic://"):
        m = re.match(r"topic://([^?]*)", dest)
        return m.group(1) if m else ""
    if dest.startswith("arn:aws") and _ARN.fullmatch(dest):
        return dest.rsplit(":", 1)[1]
    return dest


def is_temporary(dest: str | None, system: str | None, kind: str | None) -> bool:
    """Whether a span's destination is a reply destination named for one request (the
    analyzer's ``msg_topic`` says ``(temporary:<system>)`` of it)."""
    sys_ = (system or "").lower()
    name = None if dest is None else _name(dest)
    if name is not None:
        if name in ("", "<default>") and sys_ == "rabbitmq":
            return False  # RabbitMQ's default exchange, though Go's amqp091otel says anonymous
        if name == "*":
            return False  # (OBI's name for a Kafka topic it knows only by its id)
    if kind == "temporary":
        return True
    if name is None:
        return False
    if _GENERATED.match(name):
        return True
    if sys_ != "redis" or _NUID.fullmatch(name) is None:
        return False
    # (22 random letters and digits: both cases, and a digit, or, as one NUID in fifty has
    # none, both cases six times or more, which a CamelCase channel name seldom is)
    upper, lower = len(re.findall(r"[A-Z]", name)), len(re.findall(r"[a-z]", name))
    return upper > 0 and lower > 0 and (upper + lower < 22 or (upper >= 6 and lower >= 6))


def one_reply_name(spans: pa.Table) -> pa.Table:
    """``spans`` (a decoded batch) with each temporary destination stored as
    ``(temporary)``: its name inside the span's name too, its kind ``temporary``."""
    dest = spans.column("msg_destination")
    if dest.null_count == len(dest):
        return spans
    kind = spans.column("msg_destination_kind")
    # (a batch names few destinations, many times: their distinct names are asked, in
    # Python, as Arrow would compile its regular expression anew for each call)
    odd = [d for d in pc.unique(dest).to_pylist()
           if d is not None and _CANDIDATE.match(_name(d))]
    candidate = pc.is_in(dest, value_set=pa.array(odd, pa.string())) if odd else None
    if kind.null_count < len(kind):
        flagged = pc.equal(kind, "temporary")
        candidate = flagged if candidate is None else pc.or_kleene(candidate, flagged)
    if candidate is None:
        return spans
    rows = pc.indices_nonzero(pc.fill_null(candidate, False)).to_pylist()
    if not rows:
        return spans
    names = spans.column("name").to_pylist()
    dests, kinds = dest.to_pylist(), kind.to_pylist()
    systems = spans.column("msg_system").to_pylist()
    changed = False
    decided: dict[tuple[str, str | None, str | None], bool] = {}
    for i in rows:
        d = dests[i]
        if d is None or d == TEMPORARY:
            continue
        key = (d, systems[i], kinds[i])
        temporary = decided.get(key)
        if temporary is None:
            temporary = decided[key] = is_temporary(*key)
        if not temporary:
            continue
        names[i] = names[i].replace(d, TEMPORARY) if d else names[i]
        dests[i], kinds[i] = TEMPORARY, "temporary"
        changed = True
    if not changed:
        return spans
    for col, values in (("name", names), ("msg_destination", dests),
                        ("msg_destination_kind", kinds)):
        at = spans.schema.get_field_index(col)
        spans = spans.set_column(at, spans.schema.field(at), pa.array(values, pa.string()))
    return spans
