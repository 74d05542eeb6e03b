"""Every Prometheus metric ragops records, and the helpers that record them.

The exposition (`render_latest`, summed across workers in multiprocess mode) and the
process's own CPU and memory series live in `exposition`, re-exported here; the series of
degraded operation in `degradation`, and the database pool's in `db_pool`. Importing this
module registers every series the alert rules read. Gauges declare how workers combine
(`multiprocess_mode`).

Label values must stay few: `route` is the route template (`/v1/chat/{session_id}`), never the
raw path; unmatched paths should be recorded as one value such as `unmatched`.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

from ragops.observability import degradation as degradation  # its metrics: fallbacks, circuits
from ragops.observability.db_pool import instrument_pool as instrument_pool
from ragops.observability.exposition import maybe_sample_process
from ragops.observability.exposition import multiprocess_dir as multiprocess_dir
from ragops.observability.exposition import render_latest as render_latest
from ragops.observability.exposition import sample_process as sample_process

__all__ = ["degradation", "instrument_pool", "render_latest", "multiprocess_dir", "sample_process"]

Stage = Literal["embed", "retrieve", "generate", "cache_lookup"]
LlmOutcome = Literal["ok", "error", "timeout"]
CacheName = Literal["exact", "semantic", "embedding"]
Dependency = Literal["database", "vector_store", "redis", "llm"]
AnswerMode = Literal["generated", "extractive", "degraded"]
InjectionSource = Literal["question", "document"]

# Resolve both sub-50 ms overhead and the 6 s p95 latency SLO (a bucket boundary at 6).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 6, 8, 10, 15, 30, 60)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 6, 8, 15, 30)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# --- HTTP ---
HTTP_REQUESTS = Counter(
    "ragops_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "ragops_http_request_duration_seconds",
    "Time from request start to the end of the response, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_PROGRESS = Gauge(
    "ragops_http_requests_in_progress",
    "HTTP requests being handled now, operations endpoints (probes, scrapes, /version, the "
    "console) excluded: the requests the in-flight limit counts.",
    multiprocess_mode="livesum",
)

# --- RAG pipeline and LLM ---
STAGE_DURATION = Histogram(
    "ragops_rag_stage_duration_seconds",
    "Duration of one stage of answering (embed, retrieve, generate, cache_lookup).",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
LLM_REQUESTS = Counter(
    "ragops_llm_requests_total",
    "Calls to the LLM provider, by outcome (ok, error, timeout).",
    ["provider", "outcome"],
)
LLM_TOKENS = Counter(
    "ragops_llm_tokens_total",
    "Tokens sent to (in) and received from (out) the LLM provider.",
    ["provider", "direction"],
)
LLM_TTFT = Histogram(
    "ragops_llm_time_to_first_token_seconds",
    "Time from sending a prompt to the first streamed token.",
    ["provider"],
    buckets=TTFT_BUCKETS,
)
CACHE_LOOKUPS = Counter(
    "ragops_cache_lookups_total",
    "Cache lookups, by cache (exact, semantic, embedding) and result (hit, miss).",
    ["cache", "result"],
)
ANSWERS = Counter(
    "ragops_answers_total",
    "Answers given, by mode: generated (LLM), extractive (no LLM configured), degraded "
    "(fallback after a failure).",
    ["mode"],
)

# --- database pool (kept current by instrument_pool) ---
DB_POOL_SIZE = Gauge(
    "ragops_db_pool_size", "Persistent connections of the pool.", multiprocess_mode="livesum"
)
DB_POOL_CHECKED_OUT = Gauge(
    "ragops_db_pool_checked_out", "Connections in use.", multiprocess_mode="livesum"
)
DB_POOL_OVERFLOW = Gauge(
    "ragops_db_pool_overflow",
    "Connections open beyond the persistent size.",
    multiprocess_mode="livesum",
)
DB_POOL_MAX = Gauge(
    "ragops_db_pool_max",
    "Most connections the pool may open (+Inf when unbounded).",
    multiprocess_mode="livesum",
)
DB_POOL_WAITERS = Gauge(
    "ragops_db_pool_waiters",
    "Connection checkouts in progress (waiting for the pool or connecting).",
    multiprocess_mode="livesum",
)
DB_POOL_WAIT = Histogram(
    "ragops_db_pool_checkout_wait_seconds",
    "Time to obtain a connection from the pool.",
    buckets=WAIT_BUCKETS,
)

# --- health, build, security ---
DEPENDENCY_UP = Gauge(
    "ragops_dependency_up",
    "1 when the last check of a dependency (database, vector_store, redis, llm) passed, else 0.",
    ["dependency"],
    multiprocess_mode="livemostrecent",
)
BUILD_INFO = Gauge(
    "ragops_build_info",
    "Always 1; labels carry the running version and commit.",
    ["version", "commit"],
    multiprocess_mode="livemax",
)
PROMPT_INJECTION = Counter(
    "ragops_prompt_injection_detected_total",
    "Prompt-injection attempts detected, by source (question, document).",
    ["source"],
)
RATE_LIMITED = Counter(
    "ragops_rate_limited_total", "Requests refused by a rate limit, by limit.", ["limit"]
)
AUTH_FAILURES = Counter(
    "ragops_auth_failures_total", "Failed authentications, by reason.", ["reason"]
)
SHED_REQUESTS = Counter(
    "ragops_shed_requests_total", "Requests refused because the service was overloaded."
)

# --- background jobs ---
INGEST_JOBS = Counter(
    "ragops_ingest_jobs_total",
    "Background ingestion jobs by event: queued, then succeeded, failed, cancelled or "
    "interrupted (by a shutdown; it resumes).",
    ["state"],
)
JOB_QUEUE_DEPTH = Gauge(
    "ragops_job_queue_depth",
    "Background ingestion jobs waiting to run: in this process's queue, or in the Redis "
    "queue shared by every instance.",
    multiprocess_mode="livemax",
)

# --- incidents and paging ---
INCIDENT_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)
INCIDENT_ACK_SECONDS = Histogram(
    "ragops_incident_time_to_acknowledge_seconds",
    "Seconds from an incident's opening to its acknowledgement, by severity.",
    ["severity"],
    buckets=INCIDENT_BUCKETS,
)
INCIDENT_RESOLVE_SECONDS = Histogram(
    "ragops_incident_time_to_resolve_seconds",
    "Seconds from an incident's opening to its resolution, by severity.",
    ["severity"],
    buckets=INCIDENT_BUCKETS,
)
INCIDENTS_OPEN = Gauge(
    "ragops_incidents_open",
    "Incidents not yet resolved, by severity (counted in the database).",
    ["severity"],
    multiprocess_mode="livemax",
)
PAGES_SENT = Counter(
    "ragops_pages_total",
    "Pages sent to on-call, by channel and outcome (sent, failed).",
    ["channel", "outcome"],
)


def observe_incident_duration(
    kind: Literal["ack", "resolve"], severity: str, seconds: float
) -> None:
    """Record the time to acknowledge or to resolve an incident."""
    family = INCIDENT_ACK_SECONDS if kind == "ack" else INCIDENT_RESOLVE_SECONDS
    family.labels(severity).observe(max(seconds, 0.0))


def set_open_incidents(counts: dict[str, int]) -> None:
    """Set the open incidents gauge of every severity (absent ones to 0)."""
    for severity in ("P1", "P2", "P3", "P4"):
        INCIDENTS_OPEN.labels(severity).set(counts.get(severity, 0))


def record_page(channel: str, outcome: Literal["sent", "failed"]) -> None:
    """Count one page delivery attempt."""
    PAGES_SENT.labels(channel, outcome).inc()


# --- consistency of the database and the vector store ---
CleanupReason = Literal["superseded", "deleted", "failed_ingest"]
Inconsistency = Literal["orphan_point", "missing_point"]
VECTOR_CLEANUP_FAILURES = Counter(
    "ragops_vector_cleanup_failures_total",
    "Vector deletes that failed and left orphan points for the store reconcile, by reason "
    "(superseded, deleted, failed_ingest).",
    ["reason"],
)
STORE_INCONSISTENCIES = Counter(
    "ragops_store_inconsistencies_total",
    "Store check findings, by kind (orphan_point: a point no chunk row names; missing_point: "
    "a chunk row without its point) and outcome (found, repaired).",
    ["kind", "outcome"],
)


def record_vector_cleanup_failure(reason: CleanupReason) -> None:
    """Count one failed vector delete (its points are orphans until the reconcile)."""
    VECTOR_CLEANUP_FAILURES.labels(reason).inc()


def record_inconsistencies(
    kind: Inconsistency, outcome: Literal["found", "repaired"], count: int
) -> None:
    """Count store check findings (`found`) or what a reconcile repaired."""
    STORE_INCONSISTENCIES.labels(kind, outcome).inc(count)


for _mode in ("generated", "extractive", "degraded"):
    ANSWERS.labels(_mode)
for _cache in ("exact", "semantic", "embedding"):
    for _result in ("hit", "miss"):
        CACHE_LOOKUPS.labels(_cache, _result)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Record one answered HTTP request (`route` is the route template)."""
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)
    maybe_sample_process()


def observe_stage(stage: Stage, seconds: float) -> None:
    """Record the duration of one stage of answering."""
    STAGE_DURATION.labels(stage).observe(seconds)


def record_llm(
    provider: str,
    outcome: LlmOutcome,
    tokens_in: int = 0,
    tokens_out: int = 0,
    ttft: float | None = None,
) -> None:
    """Record one LLM call: its outcome, tokens each way, and time to first token if known."""
    LLM_REQUESTS.labels(provider, outcome).inc()
    if tokens_in:
        LLM_TOKENS.labels(provider, "in").inc(tokens_in)
    if tokens_out:
        LLM_TOKENS.labels(provider, "out").inc(tokens_out)
    if ttft is not None:
        LLM_TTFT.labels(provider).observe(ttft)


def record_cache(cache: CacheName, hit: bool) -> None:
    """Record one cache lookup."""
    CACHE_LOOKUPS.labels(cache, "hit" if hit else "miss").inc()


def set_dependency(name: Dependency, up: bool) -> None:
    """Record the result of the last health check of a dependency."""
    DEPENDENCY_UP.labels(name).set(1 if up else 0)


def record_answer(mode: AnswerMode) -> None:
    """Record one answer by the way it was produced."""
    ANSWERS.labels(mode).inc()


def record_prompt_injection(source: InjectionSource) -> None:
    """Record one detected prompt-injection attempt."""
    PROMPT_INJECTION.labels(source).inc()


def record_rate_limited(limit: str) -> None:
    """Record one request refused by the named rate limit."""
    RATE_LIMITED.labels(limit).inc()


def record_auth_failure(reason: str) -> None:
    """Record one failed authentication (reason: missing, invalid, revoked, ...)."""
    AUTH_FAILURES.labels(reason).inc()


def record_shed() -> None:
    """Record one request refused for overload."""
    SHED_REQUESTS.inc()


def set_build_info(version: str, commit: str) -> None:
    """Publish the running version and commit (one series, value 1; once per worker)."""
    if multiprocess_dir() is None:  # clearing is not supported in multiprocess mode
        BUILD_INFO.clear()
    BUILD_INFO.labels(version, commit).set(1)
