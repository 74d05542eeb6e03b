"""Every table of every domain, imported in one place for Alembic and `create_all` in tests."""

from ragops.auth.models import ApiKey, AuditChain, AuditEvent, AuditPrune
from ragops.cache.models import CorpusVersion
from ragops.chat.archive import ChatSessionArchive, FeedbackArchive, MessageArchive
from ragops.chat.models import ChatSession, Feedback, Message
from ragops.db.base import Base
from ragops.documents.models import Chunk, Collection, Document
from ragops.idempotency.models import IdempotencyRecord
from ragops.incidents.models import (
    ActionItem,
    Incident,
    IncidentAlert,
    IncidentEvent,
    PageRecord,
)
from ragops.jobs.models import IngestJob, IngestJobFile
from ragops.observability.request_log import RequestSlot

__all__ = [
    "ActionItem",
    "ApiKey",
    "AuditChain",
    "AuditEvent",
    "AuditPrune",
    "Base",
    "ChatSession",
    "ChatSessionArchive",
    "Chunk",
    "Collection",
    "CorpusVersion",
    "Document",
    "Feedback",
    "IdempotencyRecord",
    "FeedbackArchive",
    "Incident",
    "IngestJob",
    "IngestJobFile",
    "IncidentAlert",
    "IncidentEvent",
    "Message",
    "MessageArchive",
    "PageRecord",
    "RequestSlot",
]
