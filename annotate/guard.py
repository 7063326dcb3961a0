"""Who may talk to the annotation server, and how much they may send.

* Requests whose ``Host`` is not a loopback name are refused (DNS rebinding),
  unless the server was started for the network with an access token.
* Mutations need ``X-Headcount: 1`` (no cross-site form can send it).
* With a token (a non-loopback bind), every request must carry it: the header
  ``X-Headcount-Token``, or the cookie the page gets from ``/?token=...``.
* Named users on a loopback server (``--user A --user B``) need no token: the
  machine is the boundary. Each tab says who it is with ``X-Headcount-User``
  (the page takes it from its link, ``/?user=NAME``, so two tabs of one browser
  can be two people); a mutation must name one of the users.
* Request bodies are bounded (`MAX_BODY`): a declared larger ``Content-Length``
  is refused at once, and a streamed body is cut off as it passes the bound.
* A request must arrive whole within `REQUEST_TIMEOUT_S` (`deadline_protocol`):
  a client that sends its headers or body a byte at a time is disconnected.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
MAX_BODY = 16 * 1024 * 1024  # bytes; 200,000 points as JSON take about 8 MB
COOKIE = "headcount_token"


def is_loopback_host(host_header: str) -> bool:
    """True for ``localhost``, ``127.x.x.x`` or ``[::1]``, with or without a port."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else ""
    elif host.count(":") == 1:
        host = host.split(":")[0]
    parts = host.split(".")
    return host in LOOPBACK_NAMES or (len(parts) == 4 and parts[0] == "127" and all(p.isdigit() for p in parts))


class BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    """The rules of the module docstring, before any route runs."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None = None,
        max_body: int = MAX_BODY,
        tokens: dict | None = None,
        users: tuple[str, ...] = (),
    ) -> None:
        """`tokens` maps each access token to its user's name (one link per annotator); `token` is one
        token of nobody in particular; `users` are the named users of a loopback server."""
        self.app, self.max_body = app, max_body
        self.tokens: dict[str, str | None] | None = dict(tokens or {}) or ({token: None} if token else None)
        self.users = frozenset(users)

    def _token_ok(self, scope: Scope, headers: dict[str, str]) -> tuple[str | None, bool, str | None]:
        """(the matching token or None, set the cookie, its user): from the header, the cookie or ``?token=``."""
        offered = [headers.get("x-headcount-token", "")]
        cookie = SimpleCookie(headers.get("cookie", ""))
        if COOKIE in cookie:
            offered.append(cookie[COOKIE].value)
        from_query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
        for token, user in self.tokens.items():  # compare_digest against every token: no early exit on a prefix
            if from_query and hmac.compare_digest(from_query.encode(), token.encode()):
                return token, True, user
            if any(hmac.compare_digest(o.encode(), token.encode()) for o in offered if o):
                return token, False, user
        return None, False, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        too_large = (413, f"request body over {self.max_body} bytes")

        async def refuse(status: int, error: str) -> None:
            await JSONResponse({"error": error}, status)(scope, receive, send)

        set_cookie, token = False, None
        if self.tokens is None:
            if not is_loopback_host(headers.get("host", "")):
                return await refuse(403, "host not allowed")
            if self.users:
                named = headers.get("x-headcount-user", "")
                if named and named not in self.users:
                    return await refuse(403, f"{named!r} is not one of this server's users")
                if not named and scope["method"] in MUTATING:
                    return await refuse(403, "say who you are: open the page through your link (/?user=NAME)")
                if named:
                    scope = {**scope, "state": {**scope.get("state", {}), "user": named}}
        else:
            token, set_cookie, user = self._token_ok(scope, headers)
            if token is None:
                return await refuse(401, "access token required")
            scope = {**scope, "state": {**scope.get("state", {}), "user": user}}  # who saves: the token's name
        if scope["method"] in MUTATING and headers.get("x-headcount") != "1":
            return await refuse(403, "missing X-Headcount: 1 header")
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > self.max_body:
            return await refuse(*too_large)

        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise BodyTooLarge
            return message

        async def send_with_cookie(message: Message) -> None:
            if set_cookie and message["type"] == "http.response.start":
                cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        try:
            await self.app(scope, bounded_receive, send_with_cookie)
        except BodyTooLarge:
            await refuse(*too_large)


REQUEST_TIMEOUT_S = 20.0  # from waiting for a request to having all of it: headers and body


def deadline_protocol(seconds: float = REQUEST_TIMEOUT_S) -> type:
    """uvicorn's HTTP/1.1 protocol with a deadline on receiving each request, headers and body.

    Why: uvicorn times out idle keep-alive connections but not a request that
    arrives one byte a minute, so 200 stalled clients held 200 connections for as
    long as they liked. Here a connection closes when a request is not complete
    `seconds` after the server started waiting for it; a slow handler is not
    affected (the clock stops once the request is in).
    """
    import asyncio

    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class DeadlineH11Protocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:  # noqa: ANN001 - asyncio's signature
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
                self._disarm()  # the whole request is in

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE:
                self._arm()  # waiting for the next request on this connection

    return DeadlineH11Protocol
