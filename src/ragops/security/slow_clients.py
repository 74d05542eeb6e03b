"""Slow clients cannot hold the server: deadlines on reading a request and a cap on the
connections of one address, enforced in the HTTP protocol itself (ASGI middleware only sees a
request once its head has arrived, too late for a slowloris).

`guarded_protocol(...)` builds a subclass of uvicorn's h11 protocol that:

- closes a connection whose request head (request line and headers) is not complete within
  `header_timeout` seconds of its first byte (or of the connection, for the first request),
  answering 408;
- closes a connection whose request body is not complete within `body_timeout` seconds of its
  head (the app then sees the client disconnect);
- refuses (503, closed at once) a connection beyond `max_per_address` open ones from the same
  peer address; addresses of trusted proxies are not capped, since all their clients share
  them;
- refuses (431, closed) a request head over `HEAD_LIMIT` bytes, counted as it arrives: h11's
  own bound applies only to a head still incomplete after a read, so a larger head that
  arrived in one read of up to 64 KiB would pass it.

`ragops serve` uses it (`uvicorn_options`); refusals are counted in
`ragops_slow_client_closed_total{reason}`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import h11
from prometheus_client import Counter as MetricCounter
from uvicorn.protocols.http.h11_impl import H11Protocol

from ragops.config import Settings
from ragops.security.proxies import TrustedProxies

HEAD_LIMIT = 16 * 1024
CLOSED = MetricCounter(
    "ragops_slow_client_closed_total",
    "Connections closed by the server's read deadlines or per-address cap, by reason.",
    ["reason"],
)


def _ip(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def _raw_response(status: int, reason: str) -> bytes:
    body = f"{status} {reason}\n".encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def guarded_protocol(
    *,
    header_timeout: float,
    body_timeout: float,
    max_per_address: int,
    exempt: TrustedProxies | None = None,
) -> type[H11Protocol]:
    """An h11 protocol class with the deadlines and the cap (one count per server)."""
    open_by_address: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None
        _address: str | None = None
        _head_bytes = 0  # bytes of the current request head so far
        _head_tail = b""  # its last bytes, to find a terminator split between two reads

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            address = self.client[0] if self.client else None
            if address and max_per_address > 0 and not (exempt and exempt.trusts(_ip(address))):
                if open_by_address[address] >= max_per_address:
                    CLOSED.labels("per_address_cap").inc()
                    self.transport.write(_raw_response(503, "Service Unavailable"))
                    self.transport.close()
                    return
                open_by_address[address] += 1
                self._address = address
            self._arm_header()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            if self._address is not None:
                open_by_address[self._address] -= 1
                if open_by_address[self._address] <= 0:
                    del open_by_address[self._address]
                self._address = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE and self._head_too_large(data):
                self._cancel()
                CLOSED.labels("header_too_large").inc()
                self.transport.write(_raw_response(431, "Request Header Fields Too Large"))
                self.transport.close()
                return
            super().data_received(data)
            if self.transport.is_closing():
                self._cancel()
                return
            state = self.conn.their_state
            if state is h11.IDLE:  # the head of a request is still incomplete
                self._arm_header()
            elif state is h11.SEND_BODY:
                self._cancel_header()
                if self._body_timer is None:
                    self._body_timer = self.loop.call_later(body_timeout, self._body_late)
            else:
                self._cancel()

        def _head_too_large(self, data: bytes) -> bool:
            """Count `data` into the request head; True once the head passes HEAD_LIMIT."""
            seen = self._head_tail + data
            end = seen.find(b"\r\n\r\n")
            if end >= 0:
                size = self._head_bytes - len(self._head_tail) + end + 4
                self._head_bytes, self._head_tail = 0, b""
                return size > HEAD_LIMIT
            self._head_bytes += len(data)
            self._head_tail = seen[-3:]
            return self._head_bytes > HEAD_LIMIT

        def _arm_header(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout, self._header_late)

        def _cancel_header(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _cancel(self) -> None:
            self._cancel_header()
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def _header_late(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a response is being sent; the next head has not started yet
            CLOSED.labels("header_timeout").inc()
            self.transport.write(_raw_response(408, "Request Timeout"))
            self.transport.close()

        def _body_late(self) -> None:
            self._body_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
                return
            CLOSED.labels("body_timeout").inc()
            self.transport.close()

    return GuardedH11Protocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of `uvicorn.run`/`uvicorn.Config` for the slow-client defences."""
    return {
        "http": guarded_protocol(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_per_address=settings.max_connections_per_address,
            exempt=TrustedProxies.from_settings(settings.trusted_proxies),
        ),
        "h11_max_incomplete_event_size": HEAD_LIMIT,
        # ragops writes its own access line (observability.http_metrics); uvicorn's, at INFO
        # on a logger held at WARNING or above, was never written but still asked for per request
        "access_log": False,
    }
