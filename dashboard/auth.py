"""Bearer-token protection of everything the UI server answers (pages, callbacks, API).

API clients send ``Authorization: Bearer <token>``. A browser can't add headers to page loads,
so opening any page with ``?token=<token>`` sets an HttpOnly cookie and redirects to the same
address without the token (keeping it out of history and screenshots); later requests,
including Dash's ``/_dash-*`` callbacks and assets, pass with the cookie. The cookie holds an
HMAC of the token, not the token itself. Everything else gets 401.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, redirect, request

COOKIE = "choreoscope_session"


def cookie_value(token: str) -> str:
    """What the session cookie holds for ``token``."""
    return hmac.new(token.encode(), b"choreoscope-ui-session", hashlib.sha256).hexdigest()


def install_auth(server: Flask, token: str) -> None:
    """Require ``token`` on every request ``server`` handles."""
    if not token:
        raise ValueError("an empty auth token would let everyone in")
    expected_cookie = cookie_value(token)

    def matches(supplied: str | None, expected: str) -> bool:
        return supplied is not None and hmac.compare_digest(supplied.encode(), expected.encode())

    @server.before_request
    def _check() -> Response | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer " and matches(header[7:].strip(), token):
            return None
        if matches(request.cookies.get(COOKIE), expected_cookie):
            return None
        query_token = request.args.get("token")
        if query_token is not None and matches(query_token, token):
            rest = [(k, v) for k, vs in request.args.lists() if k != "token" for v in vs]
            target = request.path + ("?" + urlencode(rest) if rest else "")
            resp = redirect(target, code=303) if request.method == "GET" else None
            if resp is None:
                return None
            resp.set_cookie(COOKIE, expected_cookie, httponly=True, samesite="Strict",
                            secure=request.is_secure, path="/")
            return resp
        if request.path.startswith("/api/") or request.path.startswith("/_dash-"):
            resp = jsonify(error="authentication required: send Authorization: Bearer "
                                 "<token>, or open the dashboard once with ?token=<token>")
        else:
            resp = Response("401 Unauthorized: open this page with ?token=<your token> "
                            "(the --auth-token of choreoscope serve).\n", mimetype="text/plain")
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Bearer realm="choreoscope"'
        return resp
