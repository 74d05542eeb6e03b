"""Operations settings: tracing, error reporting, build identity, readiness and load
shedding, incidents and on-call paging, and the store reconcile."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr


class OperationsSettings(BaseModel):
    """How the service is watched, drained, paged about and kept consistent."""

    # --- observability ---
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector URL (http://host:4318); unset = tracing off."
    )
    otlp_headers: SecretStr | None = Field(
        None, description="Headers sent with OTLP exports, as comma-separated name=value pairs."
    )
    otel_service_name: str = Field("ragops", description="service.name of exported traces.")
    sentry_dsn: SecretStr | None = Field(
        None, description="Sentry DSN; unset = error reporting off."
    )
    sentry_environment: str | None = Field(
        None, description="Sentry environment name; unset = the value of RAGOPS_ENVIRONMENT."
    )
    sentry_traces_sample_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of requests Sentry traces (0 = errors only)."
    )
    git_commit: str | None = Field(
        None, description="Commit of the build; unset = `git rev-parse HEAD` in a checkout."
    )
    build_time: str | None = Field(None, description="When the build was made (ISO 8601).")
    image_tag: str | None = Field(
        None, description="Container image tag being run (what an image rollback changes)."
    )
    readiness_cache_seconds: float = Field(
        5.0, ge=0.0, description="Seconds /readyz reuses its dependency checks."
    )
    readiness_timeout_seconds: float = Field(
        2.0, gt=0.0, description="Timeout of one dependency check of /readyz."
    )
    readiness_slow_ms: float = Field(
        1000.0, gt=0.0, description="A dependency check slower than this is reported degraded."
    )
    max_in_flight_requests: int = Field(
        100, ge=0, description="Requests served at once before more are shed (503); 0 = no limit."
    )
    chat_concurrency: int = Field(
        4,
        ge=0,
        description=(
            "Questions worked on at once per process; the rest wait in arrival order (an LLM's "
            "answer is awaited outside this limit, an exact cache hit takes no slot); "
            "0 = no limit."
        ),
    )
    chat_fast_path: bool = Field(
        True,
        description=(
            "Serve exact answer-cache hits of POST /v1/chat before FastAPI's routing "
            "(same checks, headers, metrics and body; chat/fastpath.py); false = every "
            "question takes the ordinary route."
        ),
    )
    max_db_pool_waiters: int = Field(
        0, ge=0, description="Not ready while more checkouts than this wait on a full DB pool."
    )
    drain_seconds: float = Field(
        0.0, ge=0.0, description="After SIGTERM, seconds /readyz reports draining before stopping."
    )
    request_log_flush_seconds: float = Field(
        10.0,
        ge=0.0,
        description="Interval at which each instance adds its request counts to the database "
        "(the postmortem's figures without Prometheus); 0 = only at shutdown.",
    )
    drain_refuse_new: bool = Field(
        False,
        description="While draining, answer new API requests 503 (Retry-After) so a load "
        "balancer that checks passively (nginx) sends them elsewhere; in-flight ones finish.",
    )
    ops_sample_seconds: float = Field(
        5.0, gt=0.0, description="Interval of the /ops console's samples of the metrics."
    )
    dependency_check_seconds: float = Field(
        15.0,
        ge=0.0,
        description="Interval of the background dependency checks that keep "
        "ragops_dependency_up current without probes (0 = only when /readyz is asked).",
    )

    # --- incidents and on-call ---
    severity_policy_file: Path | None = Field(
        None, description="YAML severity policy (P1-P4 timers, business hours); unset = the spec's."
    )
    oncall_rotation_file: Path | None = Field(
        None, description="YAML on-call rotations (layers, handoffs, overrides, contacts)."
    )
    alert_webhook_token: SecretStr | None = Field(
        None,
        description="Bearer token Alertmanager sends to /v1/ops/alerts/webhook (or use an "
        "admin key of tenant default).",
    )
    oncall_calendar_token: SecretStr | None = Field(
        None, description="Token of the iCalendar feed /ops/oncall/calendar.ics; unset = off."
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL of this service in pages (incident links)."
    )
    incident_link_secret: SecretStr | None = Field(
        None,
        description="Key signing one-click acknowledge links and webhook pages; unset = "
        "derived per data dir (set one shared value for several instances).",
    )
    ack_link_hours: float = Field(
        24.0, gt=0, description="Hours a one-click acknowledge link stays valid."
    )
    pagerduty_routing_key: SecretStr | None = Field(
        None, description="PagerDuty Events API v2 routing key; unset = no PagerDuty pages."
    )
    pagerduty_events_url: str = Field(
        "https://events.pagerduty.com/v2/enqueue", description="PagerDuty Events API v2 URL."
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        None,
        description="Signing secret of the PagerDuty webhook subscription (V3) that posts "
        "incident acknowledgements and resolutions to /v1/ops/pagerduty/webhook; unset = "
        "the route answers 404.",
    )
    page_slack_webhook_url: SecretStr | None = Field(
        None, description="Slack-compatible incoming webhook URL pages are posted to."
    )
    page_webhook_url: str | None = Field(
        None, description="Generic webhook URL pages are posted to, HMAC-signed."
    )
    page_webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of the generic page webhook's signature header."
    )
    smtp_host: str | None = Field(None, description="SMTP server for e-mail pages; unset = none.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP login user.")
    smtp_password: SecretStr | None = Field(None, description="SMTP login password.")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_from: str = Field("ragops@localhost", description="Sender address of e-mail pages.")
    page_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one page delivery.")
    escalation_interval_seconds: float = Field(
        30.0, ge=0.0, description="Interval of the escalation engine's checks (0 = off)."
    )

    # --- consistency of the database and the vector store ---
    store_reconcile_interval_seconds: float = Field(
        3600.0,
        ge=0.0,
        description="Interval of the service's store reconcile: removes orphan vector points "
        "and re-creates missing ones (0 = off; one instance at a time on PostgreSQL).",
    )
    store_reconcile_grace_seconds: float = Field(
        900.0,
        ge=0.0,
        description="Points younger than this are not judged by the store check (an ingest "
        "writes its points before it commits their chunk rows).",
    )
