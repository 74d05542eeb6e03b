"""Wires every domain's router into one application; owns no routes itself."""

from __future__ import annotations

from fastapi import FastAPI

from ragops.auth.router import router as admin_router
from ragops.backup.router import router as backup_router
from ragops.cache.router import router as cache_router
from ragops.chat.openai_router import router as openai_router
from ragops.chat.router import router as chat_router
from ragops.consistency.router import router as store_router
from ragops.documents.admin_router import router as reindex_router
from ragops.documents.router import router as documents_router
from ragops.incidents.router import admin as incidents_admin_router
from ragops.incidents.router import pages as incidents_pages
from ragops.incidents.router import router as incidents_router
from ragops.jobs.router import router as jobs_router
from ragops.oncall.router import feed as oncall_feed
from ragops.oncall.router import router as oncall_router
from ragops.ops.db_router import router as db_admin_router
from ragops.ops.router import router as ops_router
from ragops.ops.status import router as status_router
from ragops.web.router import router as web_router


def include_routers(app: FastAPI) -> None:
    """Mount every router."""
    for router in (ops_router, chat_router, openai_router, documents_router, web_router):
        app.include_router(router)
    app.include_router(admin_router)
    app.include_router(cache_router)
    app.include_router(store_router)
    app.include_router(reindex_router)
    app.include_router(db_admin_router)
    app.include_router(backup_router)
    app.include_router(incidents_router)
    app.include_router(incidents_admin_router)
    app.include_router(oncall_router)
    app.include_router(incidents_pages)
    app.include_router(oncall_feed)
    app.include_router(status_router)
    app.include_router(jobs_router)
