"""The refusal of a forced restore whose safety backup failed names only the options that work
for the target's vector store: a Qdrant server's points cannot be copied aside raw."""

from __future__ import annotations

from pathlib import Path

from ragops.backup.restore import _safety_failed
from ragops.config import Settings


def test_the_embedded_store_is_offered_a_raw_copy(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var")
    message = str(_safety_failed(settings, "the database is unreadable"))
    assert "nothing was changed" in message and "the database is unreadable" in message
    assert "--raw-safety-copy" in message and "--no-safety-backup" in message


def test_a_qdrant_server_is_not_offered_what_it_would_refuse(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "var", qdrant_url="http://127.0.0.1:6333"
    )
    message = str(_safety_failed(settings, "the database is unreadable"))
    assert "--raw-safety-copy" not in message
    assert "snapshot" in message and "--no-safety-backup" in message
