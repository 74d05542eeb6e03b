"""The ingestion cost budget: what one document and one tenant may cost.

Embedding is the expensive part of ingestion and its cost grows with the number of word
pieces, so the budget is counted in word pieces, estimated as BERT's pre-tokenisation does
(every run of word characters and every punctuation mark is at least one piece):

- per document, `RAGOPS_MAX_DOCUMENT_WORD_PIECES`: a larger document is refused with 413
  `too_many_tokens` (raw text is checked before it is even parsed);
- per tenant and clock hour, `RAGOPS_INGEST_WORD_PIECES_PER_HOUR`: a document that would go
  over is refused with 429 `quota_exceeded`, naming when the hour ends. Counted in Redis when
  configured (shared by every instance), else in process, and per instance while Redis is
  unreachable. A refused document costs nothing.
"""

from __future__ import annotations

import math
import re
import time

import structlog
from limits import RateLimitItemPerHour
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from ragops.documents.errors import IngestError
from ragops.observability.degradation import (
    fallback_engaged,
    fallback_recovered,
    record_ingest_refused,
)
from ragops.security.limiter import release_storages

_PRE_TOKEN = re.compile(r"\w+|[^\w\s]")
KEY_PREFIX = "ragops-quota"
COMPONENT = "ingest_quota"
RETRY_SHARED_SECONDS = 2.0
log = structlog.get_logger(__name__)


def estimate_word_pieces(text: str) -> int:
    """Word pieces of `text`, at least: its words and punctuation marks."""
    return sum(1 for _ in _PRE_TOKEN.finditer(text))


def check_document_size(name: str, pieces: int, limit: int) -> None:
    """Refuse a document of more than `limit` word pieces (413 `too_many_tokens`)."""
    if limit and pieces > limit:
        record_ingest_refused("too_many_tokens")
        raise IngestError(
            name,
            "too_many_tokens",
            f"has about {pieces} word pieces, over the limit of {limit} per document; split it",
        )


def check_raw_text(name: str, data: bytes, limit: int) -> None:
    """Before parsing: refuse text whose whitespace-separated words alone exceed `limit`."""
    if limit and len(data) > limit and not data.startswith(b"%PDF-"):
        words = len(data.split())
        if words > limit:
            check_document_size(name, words, limit)


class IngestQuota:
    """Word pieces per tenant and clock hour, shared through Redis when configured."""

    def __init__(self, storage_uri: str, per_hour: int) -> None:
        self.per_hour = per_hour
        self.item = RateLimitItemPerHour(max(per_hour, 1))
        self.shared = not storage_uri.startswith("async+memory")
        options: dict[str, float | str | bool] = {}
        if self.shared:
            # redis-py, as the rate limiter uses: the default client (coredis) takes no
            # socket_timeout, and every charge then fell back to per-instance counting
            options = {
                "implementation": "redispy",
                "key_prefix": KEY_PREFIX,
                "socket_timeout": 0.5,
                "socket_connect_timeout": 0.5,
            }
        self.storage = storage_from_string(storage_uri, wrap_exceptions=True, **options)
        self.local = storage_from_string("async+memory://")
        self._retry_at = -math.inf
        self.degraded = False

    async def charge(self, name: str, tenant_id: str, pieces: int) -> None:
        """Count `pieces` against the tenant's hour; 429 `quota_exceeded` when they do not fit."""
        if self.per_hour <= 0 or pieces <= 0:
            return
        if pieces > self.per_hour:
            check_document_size(name, pieces, self.per_hour)
        allowed, reset = await self._hit(tenant_id, pieces)
        if not allowed:
            record_ingest_refused("quota_exceeded")
            raise IngestError(
                name,
                "quota_exceeded",
                f"would exceed the ingestion quota of {self.per_hour} word pieces an hour of "
                f"tenant {tenant_id}; retry in {reset} s",
            )

    async def _hit(self, tenant_id: str, pieces: int) -> tuple[bool, int]:
        if self.shared and time.monotonic() >= self._retry_at:
            try:
                return await self._hit_in(self.storage, tenant_id, pieces)
            except Exception as exc:
                self._retry_at = time.monotonic() + RETRY_SHARED_SECONDS
                self.degraded = True
                fallback_engaged(COMPONENT, f"shared storage unavailable ({type(exc).__name__})")
            else:
                if self.degraded:
                    self.degraded = False
                    fallback_recovered(COMPONENT)
        return await self._hit_in(self.local, tenant_id, pieces)

    async def _hit_in(self, storage: object, tenant_id: str, pieces: int) -> tuple[bool, int]:
        strategy = FixedWindowRateLimiter(storage)  # type: ignore[arg-type]
        # A fixed window counts a refused hit too: test first, so a refusal costs nothing.
        allowed = await strategy.test(self.item, "ingest", tenant_id, cost=pieces)
        if allowed:
            allowed = await strategy.hit(self.item, "ingest", tenant_id, cost=pieces)
        stats = await strategy.get_window_stats(self.item, "ingest", tenant_id)
        return allowed, max(1, math.ceil(stats.reset_time - time.time()))

    async def aclose(self) -> None:
        """Release the storage's connections."""
        if not await release_storages(self.storage, self.local):
            log.debug("quota_storage_close_failed")
