"""Client addresses and TLS detection behind trusted reverse proxies.

A request's client is the socket peer, unless that peer is one of `RAGOPS_TRUSTED_PROXIES`
(addresses or CIDRs). Only then is `X-Forwarded-For` read, from the right: each hop a trusted
proxy appended is skipped, and the right-most address that is not a trusted proxy is the
client. Entries left of it were written by the client itself and are never believed, so a
caller cannot pick its own address (and escape its rate limit) by sending the header.
`X-Forwarded-Proto` is believed on the same condition.

The uvicorn server in front of the app must not rewrite the peer itself (run it with
`proxy_headers=False`, or `--no-proxy-headers`), so that this module is the one place that
decides which forwarded headers are believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN_CLIENT = "unknown"
_STATE_KEY = "client_address"


class ProxyConfigError(ValueError):
    """An entry of `RAGOPS_TRUSTED_PROXIES` is not an address or a CIDR."""


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """The trusted proxy networks; a bare address is a one-address network."""
    networks: list[Network] = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ProxyConfigError(
                f"RAGOPS_TRUSTED_PROXIES: {text!r} is not an IP address or CIDR"
            ) from exc
    return tuple(networks)


def _address(text: str) -> IPAddress | None:
    value = text.strip().strip('"')
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """Which peers may speak for the client through forwarded headers."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, entries: Sequence[str]) -> TrustedProxies:
        return cls(parse_networks(entries))

    def trusts(self, address: IPAddress | None) -> bool:
        """Whether `address` is one of the trusted proxies."""
        if address is None or not self.networks:
            return False
        return any(address.version == n.version and address in n for n in self.networks)

    def _peer(self, scope: Scope) -> str | None:
        client = scope.get("client")
        return str(client[0]) if client else None

    def peer_is_trusted(self, scope: Scope) -> bool:
        """Whether the socket peer of this connection is a trusted proxy."""
        peer = self._peer(scope)
        return peer is not None and self.trusts(_address(peer))

    def client_address(self, scope: Scope) -> str:
        """The client's address: the peer, or the right-most untrusted forwarded hop."""
        peer = self._peer(scope)
        if peer is None:
            return UNKNOWN_CLIENT
        peer_address = _address(peer)
        if not self.trusts(peer_address):
            return str(peer_address) if peer_address is not None else peer
        hops = _header_values(scope, b"x-forwarded-for")
        nearest: str = str(peer_address)
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:  # garbage where a proxy should have written an address
                return nearest
            if not self.trusts(address):
                return str(address)
            nearest = str(address)
        return nearest

    def forwarded_https(self, scope: Scope) -> bool:
        """Whether a trusted proxy says the client connected over HTTPS."""
        if not self.peer_is_trusted(scope):
            return False
        values = _header_values(scope, b"x-forwarded-proto")
        return bool(values) and values[-1].strip().lower() == "https"

    def is_tls(self, scope: Scope) -> bool:
        """Whether the client reached us over TLS (directly or through a trusted proxy)."""
        return scope.get("scheme") in ("https", "wss") or self.forwarded_https(scope)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    """Every comma-separated value of every `name` header, in order."""
    values: list[str] = []
    for key, value in scope.get("headers", []):
        if key == name:
            values.extend(part for part in value.decode("latin-1").split(",") if part.strip())
    return values


def scope_client_address(scope: Scope, proxies: TrustedProxies) -> str:
    """The client address of this request, computed once and kept in the request state."""
    state: dict[str, Any] = scope.setdefault("state", {})
    cached = state.get(_STATE_KEY)
    if isinstance(cached, str):
        return cached
    address = proxies.client_address(scope)
    state[_STATE_KEY] = address
    return address


def client_address(request: HTTPConnection) -> str:
    """The client address of `request`, honouring the app's trusted proxies."""
    proxies = getattr(request.app.state, "trusted_proxies", None)
    if not isinstance(proxies, TrustedProxies):
        proxies = TrustedProxies()
    return scope_client_address(request.scope, proxies)
