"""Running the two web servers on uvicorn, with deadlines for clients that hold a
connection open and send nothing.

uvicorn closes a connection that is idle after a response (``timeout_keep_alive``),
but waits without end for a new connection's first request, and for a request head
or body that trickles in a byte at a time. Such connections cost a client nothing
to open, and enough of them make the server slow for everyone (200 of them once
delayed the page by 14 s) and are never closed. Here, while the server is waiting
for the client (a request head not yet complete, or a body still arriving):

- a request head must be complete within ``HEAD_SECONDS`` of the connection
  opening (or of the previous response), however slowly its bytes arrive;
- the client may not fall silent for more than ``SILENCE_SECONDS``;

else the connection is closed. While the app works on a request (a translation
of a minute) or sends its answer, no deadline applies. At most ``MAX_CONNECTIONS``
are open at once: uvicorn answers more with 503.

The protocol is uvicorn's own h11 protocol with these timers added; it depends on
that class's attributes (``conn``, ``loop``, ``transport``), so uvicorn is pinned
in constraints.txt and the deadlines are tested (tests/test_web_hardening.py).
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_SECONDS = 10.0
SILENCE_SECONDS = 10.0
MAX_CONNECTIONS = 500  # file descriptors stay well under a default limit of 1024


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections that keep the server waiting."""

    head_seconds = HEAD_SECONDS
    silence_seconds = SILENCE_SECONDS

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer = self._silence_timer = None
        self._arm_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self._head_timer is not None:
            self._head_timer.cancel()  # the head is complete
            self._head_timer = None
        self._arm_silence()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head()  # the next request's head, on a kept-alive connection

    def connection_lost(self, exc) -> None:
        for timer in (self._head_timer, self._silence_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def _arm_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.head_seconds, self._head_expired)

    def _arm_silence(self) -> None:
        if self._silence_timer is not None:
            self._silence_timer.cancel()
        self._silence_timer = self.loop.call_later(self.silence_seconds, self._silence_expired)

    def _waiting_for_client(self) -> bool:
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def _silence_expired(self) -> None:
        self._silence_timer = None
        if self._waiting_for_client() and not self.transport.is_closing():
            self.transport.close()


def run(app, host: str, port: int) -> None:
    """Serve ``app`` (already behind ``webguard``) until Ctrl-C."""
    import uvicorn

    uvicorn.run(app, **server_options(host, port))


def server_options(host: str, port: int) -> dict:
    """uvicorn's options for both servers (tests start the same server in a thread)."""
    return {
        "host": host,
        "port": port,
        "log_level": "warning",
        "http": DeadlineProtocol,
        "limit_concurrency": MAX_CONNECTIONS,
        "timeout_keep_alive": 5,
    }
