"""Vector entries by scope for the semantic answer cache: in process, or in Redis so every
instance shares them (this Redis has no search module: a scope's entries are read with one
HGETALL and compared with numpy; scopes hold one collection's questions of one corpus
version, a few thousand at most).

Each entry expires at a fixed time set when it is added (the time to live never slides).
The small `VectorIndex` interface lets the entries move to the vector store later.
"""

from __future__ import annotations

import json
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

PREFIX = "ragops:"
_HEADER = struct.Struct("!I")


@dataclass(frozen=True, slots=True)
class VectorEntry:
    """One indexed question: its text, unit vector, a reference and when it expires."""

    entry_id: str
    text: str
    vector: npt.NDArray[np.float32]
    ref: str
    expires: float


class VectorIndex(Protocol):
    """Entries by scope; `search` returns the live ones nearest to a unit vector."""

    async def add(self, scope: str, entry: VectorEntry) -> None:
        """Add or replace an entry."""
        ...

    async def search(
        self, scope: str, vector: npt.NDArray[np.float32], limit: int
    ) -> list[tuple[float, VectorEntry]]:
        """Up to `limit` live entries by descending cosine similarity."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every scope starting with `prefix`; returns how many entries."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _nearest(
    entries: list[VectorEntry], vector: npt.NDArray[np.float32], limit: int
) -> list[tuple[float, VectorEntry]]:
    now = time.time()
    live = [e for e in entries if e.expires > now]
    if not live:
        return []
    scores = np.stack([e.vector for e in live]) @ vector.astype(np.float32)
    order = np.argsort(-scores)[:limit]
    return [(float(scores[i]), live[i]) for i in order]


class MemoryVectorIndex:
    """In-process entries: the embedded default; bounded by scope count."""

    def __init__(self, max_scopes: int = 1000, max_entries_per_scope: int = 5000) -> None:
        self._scopes: OrderedDict[str, dict[str, VectorEntry]] = OrderedDict()
        self._max_scopes = max_scopes
        self._max_entries = max_entries_per_scope

    async def add(self, scope: str, entry: VectorEntry) -> None:
        """Add or replace an entry, evicting the oldest scope or entry when full."""
        entries = self._scopes.setdefault(scope, {})
        self._scopes.move_to_end(scope)
        entries[entry.entry_id] = entry
        while len(entries) > self._max_entries:
            entries.pop(next(iter(entries)))
        while len(self._scopes) > self._max_scopes:
            self._scopes.popitem(last=False)

    async def search(
        self, scope: str, vector: npt.NDArray[np.float32], limit: int
    ) -> list[tuple[float, VectorEntry]]:
        """Nearest live entries of the scope."""
        return _nearest(list(self._scopes.get(scope, {}).values()), vector, limit)

    async def delete_prefix(self, prefix: str) -> int:
        """Forget every scope under `prefix`."""
        doomed = [scope for scope in self._scopes if scope.startswith(prefix)]
        return sum(len(self._scopes.pop(scope)) for scope in doomed)

    async def aclose(self) -> None:
        """Drop everything."""
        self._scopes.clear()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def encode(entry: VectorEntry) -> bytes:
    """JSON header (text, ref, expiry) then the float32 vector."""
    header = json.dumps({"t": entry.text, "r": entry.ref, "e": entry.expires}).encode()
    return _HEADER.pack(len(header)) + header + entry.vector.astype("<f4").tobytes()


def decode(entry_id: str, raw: bytes) -> VectorEntry:
    """The inverse of `encode`."""
    (size,) = _HEADER.unpack_from(raw)
    header = json.loads(raw[_HEADER.size : _HEADER.size + size])
    vector = np.frombuffer(raw[_HEADER.size + size :], dtype="<f4").astype(np.float32)
    return VectorEntry(entry_id, str(header["t"]), vector, str(header["r"]), float(header["e"]))


class RedisVectorIndex:
    """Entries as fields of one Redis hash per scope, shared by every instance."""

    def __init__(self, url: str, *, socket_timeout: float = 2.0) -> None:
        self._redis: Redis = Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )

    async def add(self, scope: str, entry: VectorEntry) -> None:
        """HSET the entry; the hash lives as long as its newest entry."""
        key = PREFIX + scope
        ttl = max(1, int(entry.expires - time.time()) + 1)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, entry.entry_id, encode(entry))  # type: ignore[arg-type,unused-ignore]
            pipe.expire(key, ttl, gt=True)
            pipe.expire(key, ttl, nx=True)
            await pipe.execute()

    async def search(
        self, scope: str, vector: npt.NDArray[np.float32], limit: int
    ) -> list[tuple[float, VectorEntry]]:
        """Read the scope's hash and rank it; expired fields are removed on the way."""
        key = PREFIX + scope
        raw: dict[Any, Any] = await self._redis.hgetall(key)  # type: ignore[misc,unused-ignore]
        entries = [
            decode(_text(field), value if isinstance(value, bytes) else value.encode())
            for field, value in raw.items()
        ]
        now = time.time()
        expired = [e.entry_id for e in entries if e.expires <= now]
        if expired:
            await self._redis.hdel(key, *expired)  # type: ignore[misc,unused-ignore]
        return _nearest(entries, vector, limit)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every scope hash under `prefix` (SCAN, never KEYS)."""
        removed = 0
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in PREFIX + prefix) + "*"
        async for key in self._redis.scan_iter(match=pattern):
            removed += int(await self._redis.hlen(key))  # type: ignore[misc,unused-ignore]
            await self._redis.delete(key)
        return removed

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
