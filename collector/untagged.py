"""The messaging spans of libraries whose instrumentation names no messaging attribute
(Dramatiq's, Taskiq's, Remoulade's, arq's and nameko's): each is read by its own span
names and keys, and given the normalised columns a span following the conventions would
have (system, operation, destination, message id).

Used by ``collector.conventions.messaging_fallbacks``, for spans naming no messaging
system or destination (so by both decoders). Pure functions over plain values.
"""

from __future__ import annotations

import re
from typing import Any


# opentelemetry-instrumentor-dramatiq (the one published instrumentation of Dramatiq)
# tags no messaging attribute: its publish is a SERVER span "dramatiq.producer.<actor>"
# with the actor's queue_name and the message_id, the worker's delivery a CONSUMER span
# "dramatiq.worker.WorkerThread" with the message_id (its destination is its publish's).
# Read by these names only: the keys alone are too common to mean anything.
DRAMATIQ_PRODUCER_PREFIX = "dramatiq.producer."
DRAMATIQ_WORKER_SPAN = "dramatiq.worker.WorkerThread"


def dramatiq_message(attrs: dict[str, Any], name: str) -> dict[str, str]:
    """The normalised columns of a Dramatiq instrumentor's publish or delivery span
    (system, operation, the publish's queue, the message id), else empty."""
    if name.startswith(DRAMATIQ_PRODUCER_PREFIX):
        out = {"msg_system": "dramatiq", "msg_operation_type": "send"}
        queue = attrs.get("queue_name")
        if isinstance(queue, str) and queue:
            out["msg_destination"] = queue
    elif name == DRAMATIQ_WORKER_SPAN and "actor_name" in attrs:
        out = {"msg_system": "dramatiq", "msg_operation_type": "process"}
    else:
        return {}
    mid = attrs.get("message_id")
    if isinstance(mid, str) and mid:
        out["msg_message_id"] = mid
    return out


# Taskiq's own middleware (taskiq[opentelemetry]) tags no messaging attribute but the
# kick's messaging.message.id: a kick is a PRODUCER span "send/<task name>", the task's run
# a CONSUMER span "execute/<task name>", both with taskiq.action and taskiq.task_name. A
# task is addressed by its name (the queue is the broker's, named in no span): its
# destination. Read by that name only.
TASKIQ_OPERATIONS = {"send": "send", "execute": "process"}


def taskiq_message(attrs: dict[str, Any], name: str) -> dict[str, str]:
    """The normalised columns of a Taskiq middleware's kick or run span (system, operation,
    the task's name as its destination), else empty."""
    task, action = attrs.get("taskiq.task_name"), attrs.get("taskiq.action")
    if not (isinstance(task, str) and task and isinstance(action, str)) \
            or action not in TASKIQ_OPERATIONS or name != f"{action}/{task}":
        return {}
    return {"msg_system": "taskiq", "msg_operation_type": TASKIQ_OPERATIONS[action],
            "msg_destination": task}


# opentelemetry-instrumentation-remoulade tags no destination or system either: an enqueue
# is a PRODUCER span "remoulade/send" ("remoulade/send(retry-<n>)" for a retry), the
# actor's run a CONSUMER span "remoulade/process" (or "...(retry-<n>)"), both with
# remoulade.action and remoulade.actor_name. As a Taskiq task, an actor is addressed by its
# name: its destination. Read by that name only.
REMOULADE_OPERATIONS = {"remoulade/send": "send", "remoulade/process": "process"}


def remoulade_message(attrs: dict[str, Any], name: str) -> dict[str, str]:
    """The normalised columns of a Remoulade instrumentation's enqueue or run span (system,
    operation, the actor's name as its destination), else empty."""
    actor = attrs.get("remoulade.actor_name")
    op = REMOULADE_OPERATIONS.get(name.split("(", 1)[0])
    if op is None or not (isinstance(actor, str) and actor):
        return {}
    return {"msg_system": "remoulade", "msg_operation_type": op, "msg_destination": actor}


# opentelemetry-instrumentation-arq (0.50b1) tags no messaging attribute either: it makes
# ArqRedis.enqueue_job a CLIENT span named by the job's function, with arq.job.name (that
# name), arq.job.id and, once enqueued, arq.job.queue; the worker runs the job in a SERVER
# span of the same name, the child of the context the job's kwargs carried, with
# arq.job.name, arq.job.id, arq.job.try and arq.job.score (each try of a job retried is a
# run of its own; a cron job's run, id "cron:...", is a root). Read as a send to the queue
# and its delivery (not a call that lasts as long as the job), by those keys and that name
# only.
def arq_job(attrs: dict[str, Any], name: str) -> dict[str, str]:
    """The normalised columns of an arq job's enqueue or run span (system, operation, the
    enqueue's queue, the job id as message id), else empty."""
    job, job_id = attrs.get("arq.job.name"), attrs.get("arq.job.id")
    if not (isinstance(job, str) and job and job == name):
        return {}
    if not (isinstance(job_id, str) and job_id) or job_id.startswith("cron:"):
        # (an enqueue arq refused, the id taken: nothing was sent; a cron job's run, which
        # the worker starts by itself: no message)
        return {}
    out = {"msg_system": "arq", "msg_message_id": job_id,
           "msg_operation_type": "process" if "arq.job.try" in attrs else "send"}
    queue = attrs.get("arq.job.queue")
    if out["msg_operation_type"] == "send" and isinstance(queue, str) and queue:
        out["msg_destination"] = queue
    return out


# nameko-opentelemetry (opentelemetry-instrumentation-nameko) tags no messaging attribute
# either. An event's dispatch is a PRODUCER span "Dispatch event <service>.<type>" with
# nameko.events.exchange (the dispatching service's "<service>.events" exchange); a
# Publisher's, "Publish to <exchange>" with nameko.messaging.exchange ("default-exchange"
# for RabbitMQ's default). The handler's span, the child of that span, is the entrypoint's
# ("<service>.<method>"), of entrypoint_type EventHandler or Consumer, which names what it
# consumes only in nameko.amqp.queues, kombu's repr of its queues: "['<unbound Queue
# evt-orders-order_created--billing.bill -> <unbound Exchange orders.events(topic)> ->
# order_created>']". Read as RabbitMQ: a publish to the exchange, a delivery from the
# exchange it came through, else (the default exchange) from its queue, as the RabbitMQ
# rules name them. (An RPC's entrypoint, a SERVER span under the caller's CLIENT span, is
# a call: not read here.)
NAMEKO_EXCHANGE_KEYS = {"nameko.events.exchange": "Dispatch event ",
                        "nameko.messaging.exchange": "Publish to "}
NAMEKO_DELIVERY_ENTRYPOINTS = ("EventHandler", "Consumer")
# (AMQP names are at most 255 bytes: the bounds keep a crafted value from making the
# search quadratic, as an unbounded exchange name did: 4 s for 176 KB. Only the repr's
# start is read, where its first queue is)
_KOMBU_QUEUE = re.compile(r"<(?:unbound )?Queue (\S{1,255}) -> "
                          r"<(?:unbound )?Exchange ([^(<>]{0,255})\(")
_KOMBU_REPR_CHARS = 4096


def nameko_message(attrs: dict[str, Any], name: str) -> dict[str, str]:
    """The normalised columns of a nameko event dispatch, Publisher publish or their
    handler's entrypoint span (system, operation, the exchange or queue), else empty."""
    for key, prefix in NAMEKO_EXCHANGE_KEYS.items():
        exchange = attrs.get(key)
        if isinstance(exchange, str) and exchange and name.startswith(prefix):
            return {"msg_system": "rabbitmq", "msg_operation_type": "send",
                    "msg_destination": "amq.default" if exchange == "default-exchange"
                    else exchange}
    if attrs.get("entrypoint_type") not in NAMEKO_DELIVERY_ENTRYPOINTS:
        return {}
    queues = attrs.get("nameko.amqp.queues")
    if not isinstance(queues, str):
        return {}
    found = _KOMBU_QUEUE.search(queues[:_KOMBU_REPR_CHARS])
    if found is None:
        return {}
    queue, exchange = found.group(1), found.group(2)
    return {"msg_system": "rabbitmq", "msg_operation_type": "process",
            "msg_destination": exchange if exchange not in ("", "''") else queue}


def untagged_message(attrs: dict[str, Any], name: str) -> dict[str, str]:
    """The normalised columns of a span of one of these libraries, else empty."""
    return dramatiq_message(attrs, name) or taskiq_message(attrs, name) \
        or remoulade_message(attrs, name) or arq_job(attrs, name) \
        or nameko_message(attrs, name)
