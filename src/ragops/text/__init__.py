"""Text helpers shared by ingestion, retrieval and chat (no dependencies on them)."""
