"""uvicorn's HTTP protocol with a deadline on each request's line and headers, a cap on their size,
and a cap on the connections of one address (slow-header, huge-header and idle-socket attacks).

uvicorn closes a connection idle *between* requests (``timeout_keep_alive``), but waits without end
for a new connection's first bytes and for headers sent a byte at a time. Each such connection counts
against ``limit_concurrency``, past which every client is answered 503: a few hundred sockets from
one address, sending nothing, would take the service down. Here a connection whose request line and
headers are not complete ``ServerConfig.header_timeout_s`` (10 s) after it opened, or after its
request's first byte, is closed, and one whose line and headers pass ``ConnectionLimits.header_bytes``
(64 KiB: browsers send a few, cookies included) is answered 431 and closed. Bodies have their own
limits in the routes (``body_timeout_s``, 408; bytes, 413), and a stream its idle timeout.

The deadline alone still lets one address hold the limit by opening sockets faster than they
expire, so one address (an IPv6 one's /64 network: ``security.client_key``; other than a trusted
proxy's, whose clients are many) may hold at most
``ServerConfig.max_connections_per_address`` (32) HTTP connections of a process at once; beyond, a
new one is closed unanswered. A WebSocket stream stops counting once upgraded: the session caps
bound those.

The app hands both to the protocol as lifespan state (``LIMITS_STATE``): uvicorn gives every
connection of the process that state, in each worker process alike.
"""
from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from dataclasses import dataclass

from .security import client_key


@dataclass(frozen=True)
class ConnectionLimits:
    """The deadline (s) on a request's line and headers and their size (bytes), and the HTTP
    connections one client may hold (an IPv6 client: its network of ``ipv6_prefix`` bits,
    ``security.client_key``)."""
    header_timeout_s: float = 10.0
    per_address: int = 32
    ipv6_prefix: int = 64
    header_bytes: int = 64 * 1024


LIMITS_STATE = "marginlive_connection_limits"   # the key of the app's lifespan state holding them


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:              # uvicorn without its [standard] extra (h11 only): no deadline
    HttpToolsProtocol = None


def protocol_class() -> type[asyncio.Protocol] | str:
    """The HTTP protocol for uvicorn's ``http`` setting: httptools' with the deadline and the cap,
    or "auto" (uvicorn's own choice, without them) where httptools is not installed."""
    return "auto" if HttpToolsProtocol is None else GuardedProtocol


if HttpToolsProtocol is not None:    # a module-level class: uvicorn's worker processes unpickle it by name
    class GuardedProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, closing a connection whose request line and headers take
        longer than the limits' deadline, and one beyond their cap of its address (``ConnectionLimits``:
        the app's, else the defaults)."""
        _deadline: asyncio.TimerHandle | None = None
        _address: str | None = None      # the peer counted in _open() (None: a trusted proxy, or not counted)
        _in_head = True                  # a request's line and headers are arriving (not yet complete)
        _head_bytes = 0                  # their bytes so far, and the last 3 bytes seen (an end split over reads)
        _tail = b""

        @property
        def limits(self) -> ConnectionLimits:
            return self.app_state.get(LIMITS_STATE) or ConnectionLimits()

        def _open(self) -> Counter:
            """This server's HTTP connections per peer address (kept with uvicorn's state of the server)."""
            if not hasattr(self.server_state, "marginlive_open"):
                self.server_state.marginlive_open = Counter()
            return self.server_state.marginlive_open

        def connection_made(self, transport):
            super().connection_made(transport)
            host = self.client[0] if self.client else None
            if host is not None and not trusted(host, self.config.forwarded_allow_ips):
                key = client_key(host, self.limits.ipv6_prefix)
                if self._open()[key] >= self.limits.per_address:
                    transport.close()
                    return
                self._address = key
                self._open()[key] += 1
            self._arm()

        def handle_websocket_upgrade(self):  # the transport goes to the WebSocket protocol
            self._release()
            super().handle_websocket_upgrade()

        def on_message_begin(self):          # the first byte of each request on the connection
            super().on_message_begin()
            self._arm()

        def data_received(self, data):
            # httptools holds a header line until it ends, however long: without a cap one connection
            # fills memory at the speed it sends. The bytes up to the blank line that ends the headers
            # are counted before httptools reads them (a body after it is not)
            if self._in_head:
                seen = self._tail + data
                end = seen.find(b"\r\n\r\n")
                self._head_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
                self._tail = seen[-3:]
                if self._head_bytes > self.limits.header_bytes:
                    self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                         b"content-length: 0\r\nconnection: close\r\n\r\n")
                    self.transport.close()
                    return
            super().data_received(data)

        def on_headers_complete(self):       # also a WebSocket's upgrade request
            self._disarm()
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self):       # the next request's line and headers come next
            super().on_message_complete()
            self._in_head, self._head_bytes, self._tail = True, 0, b""

        def connection_lost(self, exc):
            self._disarm()
            self._release()
            super().connection_lost(exc)

        def _release(self):
            if self._address is not None:
                open_ = self._open()
                open_[self._address] -= 1
                if open_[self._address] <= 0:
                    del open_[self._address]
                self._address = None

        def _arm(self):
            if self._deadline is None:
                self._deadline = self.loop.call_later(self.limits.header_timeout_s, self._expired)

        def _disarm(self):
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self):
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()


def trusted(host: str, allowed: str | list[str]) -> bool:
    """Whether peer ``host`` is one of uvicorn's ``forwarded_allow_ips`` (addresses, networks, "*")."""
    entries = [e.strip() for e in (allowed.split(",") if isinstance(allowed, str) else allowed) if e.strip()]
    if "*" in entries or host in entries:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    for e in entries:
        try:
            if ip in ipaddress.ip_network(e, strict=False):
                return True
        except ValueError:
            continue
    return False
