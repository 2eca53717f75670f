"""Who may use the two local web servers (``serve`` and ``curate label``), and how much
they may send. Both bind to 127.0.0.1 by default and have no accounts; this module
keeps that safe when other people, other web pages or a proxy can reach them.

- **Host check.** A request must name an allowed host (loopback names, the address
  the server is bound to, and any ``--allowed-host``); anything else gets 400. A web
  page that re-points its own name at 127.0.0.1 (DNS rebinding) names itself, so it
  cannot reach a server on this machine. A server bound to every address (0.0.0.0)
  without ``--allowed-host`` accepts any name, and relies on its token.
- **Origin check.** A request that changes something (any method but GET, HEAD,
  OPTIONS) from a browser must come from the server's own page: a foreign
  ``Origin`` (or ``Sec-Fetch-Site: cross-site``) gets 403. Scripts that send
  neither header are not browsers and pass (the token still applies).
- **Token** (optional; ``--token`` or the ``CYCLEGAN_TOKEN`` environment variable).
  Every request must carry it: ``Authorization: Bearer TOKEN``, or the cookie the
  server sets when a browser opens ``/?token=TOKEN`` (HttpOnly, SameSite=Strict).
  Without it: 401, with a page that says what to open.
- **Body limit.** Bytes are counted as they arrive, whatever the transfer encoding,
  and the request is answered 413 as soon as they pass the limit. A client that
  hangs up mid-upload is dropped quietly.

Neither server exposes ``/docs`` or ``/openapi.json``: their few endpoints are listed
in their modules and the README, and a smaller surface is easier to reason about.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from urllib.parse import parse_qs, urlsplit

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
COOKIE = "cyclegan_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


def allowed_hosts(bind: str, extra: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """The host names requests may carry; None: any (a wildcard bind, none given)."""
    if is_wildcard(bind) and not extra:
        return None
    return tuple(dict.fromkeys((*LOOPBACK_NAMES, bind.strip("[]"), *extra)))


def exposure_warning(bind: str, token: str | None) -> str | None:
    """What to tell a user who makes a server reachable from other machines without a token."""
    if is_loopback(bind) or token:
        return None
    return (
        f"WARNING: listening on {bind} without an access token: anyone who can reach this "
        "machine can use this server. Give --token (or set CYCLEGAN_TOKEN), and put it behind "
        "a login or a proxy that adds one."
    )


def server_url(bind: str, port: int, token: str | None) -> str:
    """The address to open in a browser (with the token, which sets its cookie)."""
    host = "127.0.0.1" if is_wildcard(bind) else bind
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{host}:{port}/" + (f"?token={token}" if token else "")


def _host_name(value: str) -> str | None:
    try:
        return urlsplit("//" + value).hostname
    except ValueError:
        return None


async def _send(send, status: int, body: bytes, content_type: str, extra=()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _refuse(send, status: int, message: str) -> None:
    await _send(send, status, json.dumps({"detail": message}).encode(), "application/json")


_TOKEN_PAGE = b"""<!doctype html><html lang="en"><meta charset="utf-8"><title>token needed</title>
<body style="font-family: system-ui, sans-serif; margin: 2em">
<h1>This server needs its access token</h1>
<p>Open the address it printed when it started: it ends in <code>/?token=...</code>.
Scripts send the header <code>Authorization: Bearer TOKEN</code>.</p></body></html>
"""


class _TooLarge(HTTPException):
    """Raised inside the app as the body passes the limit: an HTTP error (FastAPI turns
    other exceptions met while reading a body into a vague 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


class WebGuard:
    """ASGI middleware: host, origin and token checks, and the body limit (see above)."""

    def __init__(
        self, app, hosts: tuple[str, ...] | None, token: str | None, max_body: int
    ) -> None:
        self.app, self.hosts, self.token, self.max_body = app, hosts, token, max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = _host_name(headers.get("host", ""))
        if self.hosts is not None and host not in self.hosts:
            return await _refuse(send, 400, f"host {headers.get('host', '')!r} is not allowed")
        if scope["method"] not in SAFE_METHODS and not self._same_origin(headers):
            return await _refuse(send, 403, "cross-origin request refused")
        set_cookie = ()
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if self._matches(query.get("token", [""])[0]):
                cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                set_cookie = ((b"set-cookie", cookie.encode("latin-1")),)
            elif not self._authorized(headers):
                if scope["method"] == "GET" and scope["path"] == "/":
                    return await _send(send, 401, _TOKEN_PAGE, "text/html; charset=utf-8")
                return await _refuse(send, 401, "access token missing or wrong")
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return await _refuse(send, 413, f"request body over {self.max_body} bytes")
        await self._call_limited(scope, receive, send, set_cookie)

    async def _call_limited(self, scope, receive, send, set_cookie) -> None:
        received, started = 0, False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise _TooLarge(self.max_body)
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if set_cookie:
                    message = {**message, "headers": [*message["headers"], *set_cookie]}
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:  # a FastAPI app answers it itself; any other ASGI app, here
            if not started:
                await _refuse(send, 413, f"request body over {self.max_body} bytes")
        except ClientDisconnect:
            pass  # the client hung up mid-upload: nobody to answer

    def _same_origin(self, headers: dict) -> bool:
        origin = headers.get("origin")
        if origin == "null":  # a sandboxed frame or a file: page, never this server's own
            return False
        if origin is None:
            return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")
        try:
            return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()
        except ValueError:
            return False

    def _matches(self, candidate: str) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def _authorized(self, headers: dict) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and self._matches(auth[7:].strip()):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and self._matches(value):
                return True
        return False


def guard(app, bind: str, token: str | None, extra_hosts: tuple[str, ...], max_body: int):
    """Wrap an ASGI app in the checks above; returns the app to serve."""
    return WebGuard(app, allowed_hosts(bind, extra_hosts), token or None, max_body)
