"""Database infrastructure: declarative base, async engine and sessions, Alembic migrations."""

from ragops.db.base import Base
from ragops.db.engine import Database

__all__ = ["Base", "Database"]
