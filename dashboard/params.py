"""URL and filter parameters shared by every page and the JSON API (pure functions).

Every page's state that someone might want to share lives in the URL: the time window
(``window=15m`` | ``all`` | ``range`` with ``from``/``to``), the service filter
(``service=``) and page-specific keys (``select=`` on the map, ``span=`` in a flow view,
the search form's fields). These helpers parse and build those query strings so pages never
hand-assemble URLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping
from urllib.parse import parse_qs, urlencode

from choreoscope import config
from choreoscope.config import parse_duration

# The time-window choices of the selector, in order; "range" reveals the from/to inputs.
WINDOW_CHOICES: tuple[tuple[str, str], ...] = (
    ("5m", "last 5 min"), ("15m", "last 15 min"), ("1h", "last hour"), ("6h", "last 6 hours"),
    ("24h", "last 24 hours"), ("7d", "last 7 days"), ("all", "all"), ("range", "range…"),
)
DEFAULT_WINDOW = "1h"
# Keys that describe the global filter and are carried along by every internal link.
FILTER_KEYS = ("window", "from", "to", "service")


class ParamError(ValueError):
    """A query parameter the user (or a shared link) got wrong; the message says which."""


@dataclass(frozen=True)
class Window:
    """A resolved time window in Unix nanoseconds; ``None`` bounds are open."""

    since_ns: int | None
    until_ns: int | None


def parse_query(search: str | None) -> dict[str, str]:
    """``?a=1&b=2`` -> ``{"a": "1", "b": "2"}`` (last value wins, blanks dropped)."""
    if not search:
        return {}
    parsed = parse_qs(search.lstrip("?"), keep_blank_values=False)
    return {k: v[-1] for k, v in parsed.items() if v and v[-1] != ""}


def build_query(params: Mapping[str, object | None]) -> str:
    """The inverse of :func:`parse_query`: ``"?a=1"``, or ``""`` when nothing is set."""
    items = [(k, str(v)) for k, v in params.items() if v not in (None, "", False)]
    return "?" + urlencode(items) if items else ""


def href(path: str, filters: Mapping[str, str | None], **extra: object) -> str:
    """A link to ``path`` that keeps the current global filters plus ``extra`` keys."""
    params: dict[str, object | None] = {k: filters.get(k) for k in FILTER_KEYS}
    params.update(extra)
    return path + build_query(params)


def parse_time(text: str) -> int:
    """An absolute time: Unix nanoseconds, Unix seconds, or ISO 8601 (UTC if no zone)."""
    try:
        return config.parse_time(text)
    except ValueError as exc:
        raise ParamError(str(exc)) from None


def format_time(ns: int | None) -> str:
    """Unix nanoseconds as ``2024-05-01 12:00:00.123`` UTC (what the range inputs accept)."""
    if ns is None:
        return ""
    dt = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def resolve_window(window: str | None, since: str | None = None, until: str | None = None,
                   now_ns: int = 0) -> Window:
    """Turn the selector's value (and ``from``/``to`` for ``range``) into nanosecond bounds.

    ``window`` is a duration (``15m``), ``all``, or ``range``. Raises :class:`ParamError`.
    """
    w = (window or DEFAULT_WINDOW).strip().lower()
    if w == "range":
        lo = parse_time(since) if since else None
        hi = parse_time(until) if until else None
        if lo is not None and hi is not None and hi <= lo:
            raise ParamError("the range's end must be after its start")
        return Window(lo, hi)
    try:
        span = parse_duration(w)
    except ValueError as exc:
        raise ParamError(f"window: {exc}") from None
    return Window(None if span is None else now_ns - span, None)


def resolve_since(since: str | None, until: str | None, now_ns: int) -> Window:
    """The API's ``since``/``until``: each a duration ago (``15m``) or an absolute time."""
    try:
        return Window(*config.time_window(since, until, now_ns))
    except ValueError as exc:
        raise ParamError(str(exc)) from None


def filters_from_query(query: Mapping[str, str]) -> dict[str, str | None]:
    """The global filter keys of a parsed query, with the default window filled in."""
    out: dict[str, str | None] = {k: query.get(k) for k in FILTER_KEYS}
    out["window"] = out["window"] or DEFAULT_WINDOW
    return out


def fixed_bounds(window: str | None) -> bool:
    """Whether a window's bounds stay where they are as time passes (every span, a range),
    unlike a preset's ("the last hour" moves with the clock)."""
    return window in ("all", "range")


def filter_key(filters: Mapping[str, str | None]) -> tuple[str | None, ...]:
    """A hashable cache key for the global filters."""
    w = filters.get("window") or DEFAULT_WINDOW
    if w != "range":
        return (w, None, None, filters.get("service"))
    return (w, filters.get("from"), filters.get("to"), filters.get("service"))
