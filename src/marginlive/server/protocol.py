"""uvicorn's HTTP protocol with a deadline on each request's line and headers (slow-header attacks).

uvicorn closes a connection idle *between* requests (``timeout_keep_alive``), but waits without end
for a new connection's first bytes and for headers sent a byte at a time. Each such connection counts
against ``limit_concurrency``, past which every client is answered 503: a few hundred sockets from
one address, sending nothing, would take the service down. Here a connection whose request line and
headers are not complete ``HEADER_TIMEOUT_S`` after it opened, or after its request's first byte,
is closed. Bodies have their own limit in the routes (``ServerConfig.body_timeout_s``, 408), and a
stream its idle timeout.
"""
from __future__ import annotations

import asyncio

HEADER_TIMEOUT_S = 10.0   # a request line and headers, on any connection: far more than any client needs


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:              # uvicorn without its [standard] extra (h11 only): no deadline
    HttpToolsProtocol = None


def protocol_class() -> type[asyncio.Protocol] | str:
    """The HTTP protocol for uvicorn's ``http`` setting: httptools' with the deadline, or "auto"
    (uvicorn's own choice, without it) where httptools is not installed."""
    return "auto" if HttpToolsProtocol is None else HeaderDeadlineProtocol


if HttpToolsProtocol is not None:    # a module-level class: uvicorn's worker processes unpickle it by name
    class HeaderDeadlineProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, closing a connection whose request line and headers take
        longer than ``HEADER_TIMEOUT_S``."""
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self):          # the first byte of each request on the connection
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self):       # also a WebSocket's upgrade request
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def _arm(self):
            if self._deadline is None:
                self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._expired)

        def _disarm(self):
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self):
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()
