"""`create_app(settings)`: the FastAPI application with its middleware, routers and lifespan.

Start-up migrates the database (when `auto_migrate`) and connects every component; on the
first start of an empty instance the demo corpus then ingests in the background (`/readyz`
says `ingesting` until it is done), and the background job queue starts (`jobs.queue`).
Shutdown stops the job workers (running jobs are left `interrupted`, to resume), cancels the
demo corpus, then closes the components in order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ragops import __version__
from ragops.api.docs import install_docs
from ragops.api.errors import install_error_handlers
from ragops.api.middleware import (
    BodySizeLimitMiddleware,
    NulInUrlMiddleware,
    RequestIdMiddleware,
)
from ragops.api.openapi import install_openapi
from ragops.api.router import include_routers
from ragops.auth.bootstrap import ensure_bootstrap_key
from ragops.auth.refusals import RefusalAuditor
from ragops.chat.fastpath import install_fast_path
from ragops.config import Settings, get_settings
from ragops.config.production import check_production
from ragops.db import migrate
from ragops.demo import DemoCorpusLoader
from ragops.idempotency.middleware import apply_idempotency
from ragops.jobs.queue import start_job_queue
from ragops.observability.logging import configure_logging
from ragops.observability.setup import install_observability
from ragops.ops.draining import DrainRefusalMiddleware
from ragops.runtime import Runtime
from ragops.security.setup import app_options, install_cors, install_security

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; its lifespan starts and stops the runtime."""
    settings = settings or get_settings()
    configure_logging(settings)
    for problem in check_production(settings):  # raises unless explicitly allowed
        logger.warning("production allowed to start with: %s", problem.title)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            await migrate.upgrade(settings)
        started = await Runtime.start(settings)
        app.state.runtime = started
        refusals = RefusalAuditor(started.db)
        app.state.refusal_auditor = refusals  # failed keys (auth.dependencies)
        try:
            await ensure_bootstrap_key(settings=settings, db=started.db)
            await started.db.fill_pool()  # the pool's baseline, open before the first request
            app.state.security_event_hook = refusals
            demo = (
                DemoCorpusLoader(started)
                if settings.demo_corpus and settings.environment != "production"
                else None
            )
            app.state.demo_corpus = demo
            if demo is not None:
                demo.start()
            jobs = await start_job_queue(settings, started.ingest_deps)
            app.state.jobs = jobs
            try:
                yield
            finally:
                await jobs.aclose()  # running jobs become "interrupted" and resume later
                if demo is not None:
                    await demo.aclose()
        finally:
            await refusals.aclose()
            await started.aclose()

    options = app_options(settings)
    app = FastAPI(
        title="ragops",
        version=__version__,
        description="A RAG chatbot API with its operations built in.",
        lifespan=lifespan,
        openapi_url=options["openapi_url"],
        docs_url=None,  # the documentation pages are ragops' own, with packaged assets
        redoc_url=None,
    )
    install_error_handlers(app)
    include_routers(app)
    apply_idempotency(app)  # before the rate limits: a replay costs no quota
    app.add_middleware(NulInUrlMiddleware)  # inside the rate limits, headers and metrics
    install_docs(app, **options)
    install_openapi(app, question_limit=settings.max_question_chars)
    install_security(app, settings)
    install_fast_path(app, enabled=settings.chat_fast_path)
    if settings.drain_refuse_new:
        app.add_middleware(DrainRefusalMiddleware)
    install_observability(app, settings)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    install_cors(app, settings)  # an allowed origin reads every refusal above (413, 503, 429)
    app.add_middleware(RequestIdMiddleware)
    return app
