"""Live refresh that leaves alone what did not change.

Every page redraws on each tick of the refresh interval. Sending the browser the same
components again is not free and not harmless: React replaces the tables and panels it is
given (a row the user is about to click, or text they selected, is gone: the browser test
of clicking an edge failed on a stale element once the page ticked every second), and the
figures and the map's elements are sent and diffed again. So a page callback wrapped by
:func:`unless_unchanged` also writes a signature of what it rendered to a ``dcc.Store`` of
its page, reads the previous one back, and returns ``no_update`` for every output when the
two match. The signature lives in the browser (one per page instance), so each user's view
is compared with what that user was sent.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Callable

from dash import no_update
from plotly.utils import PlotlyJSONEncoder


class _Encoder(PlotlyJSONEncoder):
    """Plotly's encoder (figures, components), with ``no_update`` as a marker."""

    def default(self, obj: Any) -> Any:
        if obj is no_update:
            return "<no_update>"
        return super().default(obj)


def signature(outputs: Any) -> str:
    """A digest of callback outputs (components, figures, plain data)."""
    text = json.dumps(outputs, cls=_Encoder, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def unless_unchanged(fn: Callable[..., Any], n_outputs: int,
                     filters_at: int | None = None) -> Callable[..., tuple[Any, ...]]:
    """Wrap a callback of ``n_outputs`` outputs: the wrapper takes one more argument (the
    previous signature, a ``State``) and returns one more output (the new signature, to
    the same store), and ``no_update`` everywhere when nothing changed. ``filters_at``:
    the position of the filter store's value among the inputs; until the shell has set it
    from the URL (it does as a page loads) there is nothing to draw, and drawing the
    default window first would only be drawn over."""

    @functools.wraps(fn)
    def wrapped(*args: Any) -> tuple[Any, ...]:
        *inputs, previous = args
        if filters_at is not None and inputs[filters_at] is None:
            return (no_update,) * (n_outputs + 1)
        out = fn(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        sig = signature(outs)
        if sig == previous:
            return (no_update,) * (len(outs) + 1)
        return (*outs, sig)

    return wrapped
