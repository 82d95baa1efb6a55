"""Settings: declared once, resolved in one place (argument, then environment, then default).

Every option of ``choreoscope serve`` is a row of :data:`SETTINGS`. The CLI builds its flags
from this table and the README's settings table is checked against it by a test, so no
option goes undocumented.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Setting:
    """One option: its name (flag ``--name``), environment variable, default and help."""

    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str


def parse_size(text: str) -> int:
    """Parse a byte size such as ``4MiB``, ``2GB``, ``512k`` or ``1048576``."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", str(text), re.I)
    if not m:
        raise ValueError(f"not a size: {text!r} (try 64MiB, 2GB, 1048576)")
    num, unit, suffix = float(m.group(1)), m.group(2).lower(), m.group(3).lower()
    base = 1024 if suffix.startswith("i") or unit and not suffix else 1000
    if suffix == "b" and unit:
        base = 1000
    power = " kmgt".index(unit) if unit else 0
    return int(num * base ** power)


_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9, "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h|d|w)")


def duration_ns(text: str) -> int:
    """``15m``, ``2h``, ``7d``, ``1h30m``, ``500ms`` or ``90`` (seconds) -> nanoseconds.

    Raises ``ValueError`` with a readable message on anything else.
    """
    t = (text or "").strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return int(float(t) * 10**9)
    pos, total = 0, 0.0
    for m in _PART.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 7d or all)")
    return int(total)


def parse_time(text: str) -> int:
    """An absolute time: Unix nanoseconds, Unix seconds, or ISO 8601 (UTC if no zone)."""
    t = str(text).strip()
    if re.fullmatch(r"\d{16,}", t):
        return int(t)
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return int(float(t) * 1e9)
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (try 2024-05-01T12:00:00Z or Unix "
                         f"seconds)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1e9)


def time_bound(text: str | None) -> tuple[str, str | None]:
    """One bound of a window, as ``choreoscope analyze --since/--until`` and the API's
    ``since``/``until`` take it: ``("open", None)`` (blank, ``all``), ``("ago", duration)``
    (``15m``) or ``("at", time)`` (anything else, an absolute time). ``*`` and ``inf`` say
    ``all`` too. A bare number of ten digits or more is a time (Unix seconds or
    nanoseconds), not a duration of 31 years."""
    t = (text or "").strip()
    if t.lower() in ("*", "inf"):
        return "open", None
    if re.fullmatch(r"\d{10,}(\.\d+)?", t):
        return "at", t
    try:
        d = parse_duration(t)
    except ValueError:
        return "at", t
    return ("open", None) if d is None else ("ago", t.lower())


def time_window(since: str | None, until: str | None,
                now_ns: int) -> tuple[int | None, int | None]:
    """A window's bounds in Unix nanoseconds (None: open) from two :func:`time_bound`
    texts; ``ValueError`` with a readable message for a bound that is neither, or an
    ``until`` not after ``since``."""
    def one(text: str | None) -> int | None:
        kind, value = time_bound(text)
        if value is None:
            return None
        if kind == "ago":
            return now_ns - (parse_duration(value) or 0)
        try:
            return parse_time(value)
        except ValueError:
            raise ValueError(f"not a time or a duration: {value!r} (use e.g. 15m, 2h, all, "
                             f"2024-05-01T12:00:00Z or Unix seconds)") from None

    lo, hi = one(since), one(until)
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError("until must be after since")
    return lo, hi


def parse_duration(text: str) -> int | None:
    """A setting's duration in nanoseconds; ``all``, ``0``, ``off`` or empty -> None (no limit)."""
    t = str(text).strip().lower()
    if t in ("", "all", "0", "none", "off"):
        return None
    return duration_ns(t)


def _port(text: str) -> int:
    v = int(text)
    if not 0 <= v <= 65535:
        raise ValueError(f"port out of range: {text}")
    return v


def _workers(text: str) -> int:
    """A count of decode worker processes; ``auto`` is one on a machine with two or more
    cores (measured faster there, see bench/RESULTS.md "Ingest") and none on one core."""
    if str(text).strip().lower() == "auto":
        return 1 if (os.cpu_count() or 1) >= 2 else 0
    v = int(text)
    if v < 0:
        raise ValueError(f"must be 0 or more: {text}")
    return v


_ORIGIN = re.compile(r"https?://((\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


def parse_origins(text: str) -> tuple[str, ...]:
    """Web origins, comma-separated: ``https://shop.example.com``, ``http://localhost:3000``,
    ``https://*.example.com`` (any subdomain) or ``*`` (any origin); empty -> none."""
    out = []
    for part in str(text).split(","):
        o = part.strip().rstrip("/")
        if not o:
            continue
        if o != "*" and not _ORIGIN.fullmatch(o):
            raise ValueError(f"not an origin: {o!r} (use e.g. https://shop.example.com, "
                             f"http://localhost:3000, https://*.example.com or *)")
        out.append(o.lower())
    return tuple(out)


def _bool(text: str) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "on")


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "CHOREOSCOPE_DB", "./choreoscope.duckdb",
            "DuckDB database file (created if missing)"),
    Setting("host", "CHOREOSCOPE_HOST", "127.0.0.1",
            "address to bind; use 0.0.0.0 to accept other machines (set --auth-token then)"),
    Setting("grpc_port", "CHOREOSCOPE_GRPC_PORT", 4317, "OTLP/gRPC port (0 = any free port)",
            _port),
    Setting("http_port", "CHOREOSCOPE_HTTP_PORT", 4318, "OTLP/HTTP port (0 = any free port)",
            _port),
    Setting("ui_port", "CHOREOSCOPE_UI_PORT", 8050, "dashboard and JSON API port (0 = any)",
            _port),
    Setting("no_ui", "CHOREOSCOPE_NO_UI", False, "run the collector without the dashboard",
            _bool),
    Setting("auth_token", "CHOREOSCOPE_AUTH_TOKEN", None,
            "bearer token required from exporters, the dashboard and the API"),
    Setting("cors_origins", "CHOREOSCOPE_CORS_ORIGINS", None,
            "web origins whose pages may export to OTLP/HTTP from the browser, "
            "comma-separated (e.g. https://shop.example.com, https://*.example.com, *)",
            parse_origins),
    Setting("tls_cert", "CHOREOSCOPE_TLS_CERT", None, "PEM certificate: serve gRPC and HTTP "
            "over TLS"),
    Setting("tls_key", "CHOREOSCOPE_TLS_KEY", None, "PEM private key for --tls-cert"),
    Setting("max_request_size", "CHOREOSCOPE_MAX_REQUEST_SIZE", 16 * 1024 * 1024,
            "largest accepted export request, after decompression (413 / RESOURCE_EXHAUSTED "
            "past it)", parse_size),
    Setting("max_pending_spans", "CHOREOSCOPE_MAX_PENDING_SPANS", 200_000,
            "spans decoded but not yet committed; past it exports are refused with "
            "503/UNAVAILABLE and Retry-After", int),
    Setting("max_pending_bytes", "CHOREOSCOPE_MAX_PENDING_BYTES", 128 * 1024 * 1024,
            "request bytes being decoded or written; past it exports are refused", parse_size),
    Setting("retention", "CHOREOSCOPE_RETENTION", None,
            "drop spans older than this (e.g. 24h, 7d); checked every minute", parse_duration),
    Setting("max_db_size", "CHOREOSCOPE_MAX_DB_SIZE", None,
            "drop the oldest spans when the database file grows past this (e.g. 2GB)",
            parse_size),
    Setting("refresh", "CHOREOSCOPE_REFRESH", "5s",
            "dashboard live-refresh interval", parse_duration),
    Setting("db_memory", "CHOREOSCOPE_DB_MEMORY", "1GB",
            "DuckDB memory limit (the rest spills to disk)", lambda t: f"{parse_size(t)}B"),
    Setting("decode_workers", "CHOREOSCOPE_DECODE_WORKERS", "auto",
            "processes decoding large OTLP exports beside the server (0 = decode in the "
            "server's own threads; auto = 1 on two or more cores)", _workers),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def resolve(args: Mapping[str, Any] | None = None,
            environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve every setting: explicit argument (not None), then environment, then default.

    Raises ``ValueError`` naming the setting when a value can't be parsed.
    """
    args = args or {}
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for s in SETTINGS:
        raw = args.get(s.name)
        source = f"--{s.name.replace('_', '-')}"
        if raw is None and env.get(s.env) not in (None, ""):
            raw, source = env[s.env], s.env
        if raw is None:
            out[s.name] = s.default if not isinstance(s.default, str) or s.parse is str \
                else s.parse(s.default)
            continue
        try:
            out[s.name] = raw if not isinstance(raw, str) else s.parse(raw)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    return out
