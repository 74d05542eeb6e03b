"""Backups on SQLite + the embedded store and on PostgreSQL + the embedded store: a round trip
loses nothing, a corrupted or newer backup is refused, a restore over live data needs
--force and takes a safety backup (and one failing after it names that backup and how to put
it back), a failed backup leaves no file, --keep prunes."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text

from ragops.auth.audit import record_event
from ragops.auth.retention import _restore, _set_aside
from ragops.backup import crypto
from ragops.backup.archive import InvalidBackup
from ragops.backup.cli_support import restore_failed_line
from ragops.backup.manifest import MANIFEST_NAME, Manifest
from ragops.backup.restore import RestoreFailed, RestoreRefused, restore_backup, verify_backup
from ragops.backup.service import BackupError, create_backup, list_backups
from ragops.chat import service as chat
from ragops.chat.passages import retrieve
from ragops.config import Settings
from ragops.db import migrate
from ragops.documents import service as documents
from ragops.documents.models import Document
from ragops.runtime import Runtime

DOCS = {
    "pool.md": b"# Pool\n\nRestart the connection pool when connections leak.\n",
    "backup.md": b"# Backups\n\nThe nightly backup is kept for fourteen days in the vault.\n",
    "kites.md": b"# Kites\n\nA kite flies best in a steady wind of twenty kilometres an hour.\n",
}


async def _fill(runtime: Runtime) -> list[str]:
    ids = []
    for source, data in DOCS.items():
        outcome = await documents.ingest_bytes(
            runtime.ingest_deps, tenant_id="default", collection="ops", source=source, data=data
        )
        assert outcome.document is not None
        ids.append(outcome.document.id)
    await chat.answer(
        runtime.chat_deps,
        tenant_id="default",
        question="How long is the nightly backup kept?",
        collection="ops",
        session_id=None,
        request_id="test",
    )
    return ids


async def _documents(settings: Settings) -> set[str]:
    from ragops.db import Database

    db = Database(settings)
    try:
        async with db.session() as session:
            return set((await session.execute(select(Document.source))).scalars())
    finally:
        await db.dispose()


def _new_target(settings: Settings, tmp_path: Path, pg_url: str | None) -> Settings:
    update: dict[str, Any] = {"data_dir": tmp_path / "restored", "database_url": pg_url}
    return settings.model_copy(update=update)


@pytest.fixture
async def target_url(settings: Settings) -> Any:
    """A database URL for the restored copy on the same backend (None: SQLite)."""
    if settings.database_url is None:
        yield None
        return
    from sqlalchemy.engine import make_url

    from ragops.backup.database import pg_drop_database

    url = make_url(settings.database_url)
    target = url.set(database=f"{url.database}_restored")
    yield target.render_as_string(hide_password=False)
    await pg_drop_database(target)


async def test_round_trip_loses_nothing(
    runtime: Runtime, tmp_path: Path, target_url: str | None
) -> None:
    await _fill(runtime)
    result = await create_backup(settings=runtime.settings, store=runtime.store)
    manifest = result.manifest
    assert result.path.name.endswith(".tar.gz") and result.path.parent.name == "backups"
    assert manifest.database.tables["documents"] == 3
    assert manifest.database.tables["chat_sessions"] == 1
    assert manifest.database.tables["messages"] == 2
    assert manifest.vectors.points == manifest.database.tables["chunks"] > 0
    assert manifest.migration_revision == migrate.head_revision()
    assert {(v.tenant_id, v.collection) for v in manifest.corpus_versions} == {("default", "ops")}
    # a change after the backup is not in it
    await documents.ingest_bytes(
        runtime.ingest_deps,
        tenant_id="default",
        collection="ops",
        source="late.md",
        data=b"# Late\n\nWritten after the backup.\n",
    )

    target = _new_target(runtime.settings, tmp_path, target_url)
    report = await restore_backup(result.path, settings=target, key=None)
    assert report.verification.ok, report.verification.lines()
    assert report.verification.points_found == manifest.vectors.points
    assert report.verification.stores is not None
    assert report.verification.stores.orphan_points == []
    assert await _documents(target) == set(DOCS)

    restored = await Runtime.start(target)
    try:
        passages, _, _ = await retrieve(
            restored.chat_deps, tenant_id="default", query="nightly backup kept", collection="ops"
        )
        assert "fourteen days" in passages[0].text
    finally:
        await restored.aclose()


async def test_archive_is_compressed_and_an_uncompressed_one_still_restores(
    runtime: Runtime, tmp_path: Path, target_url: str | None
) -> None:
    """The embedded store preallocates pages of zeros: the archive must not carry them raw, and
    an archive of an earlier release (a plain tar) must still be listed, verified and restored."""
    await _fill(runtime)
    result = await create_backup(settings=runtime.settings, store=runtime.store)
    with tarfile.open(result.path, "r:gz") as tar:
        unpacked = sum(m.size for m in tar.getmembers())
    assert result.path.stat().st_size * 10 < unpacked, (result.path.stat().st_size, unpacked)

    earlier = tmp_path / "backups" / "ragops-backup-20200101T000000000Z.tar"
    earlier.parent.mkdir()
    with tarfile.open(result.path, "r:gz") as tar, tarfile.open(earlier, "w") as out:
        for member in tar.getmembers():
            out.addfile(member, tar.extractfile(member))
    assert list_backups(earlier.parent) == [earlier]
    report = await verify_backup(earlier, settings=runtime.settings, key=None)
    assert report.verification.ok, report.verification.lines()
    target = _new_target(runtime.settings, tmp_path, target_url)
    restored = await restore_backup(earlier, settings=target, key=None)
    assert restored.verification.ok, restored.verification.lines()
    assert await _documents(target) == set(DOCS)


async def test_verify_restores_into_scratch_and_compares(runtime: Runtime) -> None:
    await _fill(runtime)
    result = await create_backup(settings=runtime.settings, store=runtime.store)
    report = await verify_backup(result.path, settings=runtime.settings, key=None)
    assert report.verification.ok, report.verification.lines()
    assert report.target_data_dir != runtime.settings.data_dir
    assert not report.target_data_dir.exists()  # scratch removed


async def test_verify_fails_a_backup_whose_audit_chain_is_broken(runtime: Runtime) -> None:
    """A trail changed before the backup restores as a trail `ragops audit-log verify`
    fails: the trial restore says so, and the backup does not pass."""
    await _fill(runtime)
    for i in range(4):
        await record_event(db=runtime.db, action=f"test.backup.{i}", detail={"n": i})
    async with runtime.db.engine.begin() as conn:  # as the owner, the trigger set aside
        await _set_aside(conn)
        await conn.execute(text("UPDATE audit_events SET outcome = 'denied' WHERE chain_seq = 2"))
        await _restore(conn)
    result = await create_backup(settings=runtime.settings, store=runtime.store)
    report = await verify_backup(result.path, settings=runtime.settings, key=None)
    assert not report.verification.ok
    lines = report.verification.lines()
    assert any("hash chain is broken" in line for line in lines), lines
    assert any("sequence 2" in line and "content was changed" in line for line in lines), lines
    # nothing else is wrong with it: rows and vectors came back as the manifest counts them
    assert not report.verification.table_mismatches
    assert report.verification.points_found == report.verification.points_expected


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


async def test_corrupted_backup_is_detected_and_refused(runtime: Runtime, tmp_path: Path) -> None:
    await _fill(runtime)
    result = await create_backup(settings=runtime.settings, store=runtime.store)
    # one byte of a vector file changed inside an archive that still unpacks
    plain = tmp_path / "changed.tar"
    with tarfile.open(result.path) as tar, tarfile.open(plain, "w") as out:
        for member in tar.getmembers():
            out.addfile(member, tar.extractfile(member))
    with tarfile.open(plain) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("vectors/") and m.size)
    _flip_byte(plain, member.offset_data + member.size // 2)
    target = runtime.settings.model_copy(update={"data_dir": tmp_path / "t", "database_url": None})
    with pytest.raises(InvalidBackup) as refused:
        await restore_backup(plain, settings=target, key=None)
    assert any("checksum mismatch: vectors/" in p for p in refused.value.problems)
    assert not (tmp_path / "t").exists()  # nothing restored

    # a byte of the compressed stream changed: refused with a reason (the stream does not
    # decompress, the manifest after the damage is never reached, or a checksum fails), never
    # a crash
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(result.path.read_bytes())
    _flip_byte(damaged, damaged.stat().st_size // 2)
    with pytest.raises(InvalidBackup) as unreadable:
        await restore_backup(damaged, settings=target, key=None)
    reasons = " ".join(unreadable.value.problems)
    assert any(r in reasons for r in ("not a readable", "no manifest", "checksum mismatch"))
    assert not (tmp_path / "t").exists()

    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(result.path.read_bytes()[: result.path.stat().st_size // 2])
    with pytest.raises(InvalidBackup):
        await verify_backup(truncated, settings=runtime.settings, key=None)


def _rewrite_manifest(path: Path, dest: Path, **changes: Any) -> None:
    with tarfile.open(path) as tar, tarfile.open(dest, "w") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            if member.name == MANIFEST_NAME:
                assert data is not None
                manifest = Manifest.model_validate_json(data.read()).model_copy(update=changes)
                body = manifest.model_dump_json().encode()
                member.size = len(body)
                import io

                out.addfile(member, io.BytesIO(body))
            else:
                out.addfile(member, data)


async def test_backup_from_a_newer_release_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    await _fill(runtime)
    result = await create_backup(settings=runtime.settings, store=runtime.store)
    target = runtime.settings.model_copy(update={"data_dir": tmp_path / "t", "database_url": None})
    newer_schema = tmp_path / "newer-schema.tar"
    _rewrite_manifest(result.path, newer_schema, migration_revision="9999_future")
    with pytest.raises(RestoreRefused, match="newer than this release"):
        await restore_backup(newer_schema, settings=target, key=None)
    newer_code = tmp_path / "newer-code.tar"
    _rewrite_manifest(result.path, newer_code, ragops_version="99.0.0")
    with pytest.raises(RestoreRefused, match="newer than this release"):
        await restore_backup(newer_code, settings=target, key=None)
    assert not (tmp_path / "t").exists()


async def _live_with_backup(settings: Settings) -> Path:
    """A live instance holding DOCS and late.md, and a backup of it taken before late.md."""
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        await _fill(runtime)
        result = await create_backup(settings=settings, store=runtime.store)
        await documents.ingest_bytes(
            runtime.ingest_deps,
            tenant_id="default",
            collection="ops",
            source="late.md",
            data=b"# Late\n\nWritten after the backup.\n",
        )
    finally:
        await runtime.aclose()
    return result.path


async def test_restore_over_live_data_needs_force_and_takes_a_safety_backup(
    settings: Settings, tmp_path: Path
) -> None:
    backup = await _live_with_backup(settings)
    with pytest.raises(RestoreRefused, match="--force"):
        await restore_backup(backup, settings=settings, key=None)
    assert await _documents(settings) == {*DOCS, "late.md"}  # untouched

    report = await restore_backup(backup, settings=settings, key=None, force=True)
    assert report.verification.ok, report.verification.lines()
    assert await _documents(settings) == set(DOCS)
    assert report.safety_backup is not None
    assert report.safety_backup.manifest.database.tables["documents"] == 4


async def test_failed_backup_leaves_no_file(runtime: Runtime, tmp_path: Path) -> None:
    broken = runtime.settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:5432/ragops_no_such_db"}
    )
    out = tmp_path / "out"
    with pytest.raises(BackupError):
        await create_backup(settings=broken, store=runtime.store, directory=out)
    assert list(out.iterdir()) == []
    # the store still works after the failed attempt
    ok = await create_backup(settings=runtime.settings, store=runtime.store, directory=out)
    assert list_backups(out) == [ok.path]


async def test_keep_prunes_older_backups(runtime: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "out"
    made = [
        (await create_backup(settings=runtime.settings, store=runtime.store, directory=out)).path
        for _ in range(3)
    ]
    last = await create_backup(
        settings=runtime.settings, store=runtime.store, directory=out, keep=2
    )
    assert list_backups(out) == [last.path, made[-1]]
    assert set(last.pruned) == set(made[:2])


async def test_encrypted_backup(runtime: Runtime, tmp_path: Path) -> None:
    await _fill(runtime)
    key = crypto.new_key()
    secret = runtime.settings.model_copy(update={"backup_key": SecretStr(key)})
    result = await create_backup(settings=secret, store=runtime.store)
    assert result.path.name.endswith(".tar.gz.enc")
    raw = result.path.read_bytes()
    assert raw.startswith(crypto.MAGIC) and b"fourteen days" not in raw
    report = await verify_backup(result.path, settings=secret, key=crypto.parse_key(key))
    assert report.verification.ok
    with pytest.raises(InvalidBackup, match="key is wrong"):
        await verify_backup(result.path, settings=secret, key=crypto.parse_key(crypto.new_key()))
    with pytest.raises(InvalidBackup, match="RAGOPS_BACKUP_KEY"):
        await verify_backup(result.path, settings=runtime.settings, key=None)
    _flip_byte(result.path, len(raw) // 2)
    with pytest.raises(InvalidBackup, match="corrupted"):
        await verify_backup(result.path, settings=secret, key=crypto.parse_key(key))
    cut = tmp_path / "cut.tar.enc"
    cut.write_bytes(raw[: len(raw) - 100])
    with pytest.raises(InvalidBackup):
        await verify_backup(cut, settings=secret, key=crypto.parse_key(key))


async def test_backup_during_ingestion_is_a_consistent_cut(
    runtime: Runtime, tmp_path: Path, target_url: str | None
) -> None:
    """Documents keep arriving (and being replaced) while the backup runs: the backup never
    holds a chunk row without its vector."""
    import asyncio

    stop = asyncio.Event()

    async def writer() -> int:
        written = 0
        while not stop.is_set():
            source = f"busy-{written % 4}.md"  # four documents, replaced again and again
            body = f"# Busy {written}\n\nRevision {written} of a busy document.\n".encode()
            await documents.ingest_bytes(
                runtime.ingest_deps, tenant_id="default", collection="ops", source=source, data=body
            )
            written += 1
        return written

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.5)
    result = await create_backup(settings=runtime.settings, store=runtime.store)
    stop.set()
    assert await task > 1
    target = _new_target(runtime.settings, tmp_path, target_url)
    report = await restore_backup(result.path, settings=target, key=None)
    assert report.verification.stores is not None
    assert report.verification.stores.missing_points == []
    assert report.verification.ok, report.verification.lines()


async def test_restore_failing_after_the_safety_backup_says_where_it_is_and_how_to_use_it(
    settings: Settings, tmp_path: Path
) -> None:
    backup = await _live_with_backup(settings)
    # A wrong archive that passes the checksums: its manifest names one vector file, not the
    # shard directory, so the restore fails at the vectors, after replacing the database.
    with tarfile.open(backup) as tar:
        member = tar.extractfile(MANIFEST_NAME)
        assert member is not None
        manifest = Manifest.model_validate_json(member.read())
    shard_file = next(
        n for n in sorted(manifest.files) if n.startswith(f"{manifest.vectors.path}/")
    )
    wrong = tmp_path / "wrong-vectors.tar"
    _rewrite_manifest(
        backup, wrong, vectors=manifest.vectors.model_copy(update={"path": shard_file})
    )

    with pytest.raises(RestoreFailed) as failed:
        await restore_backup(wrong, settings=settings, key=None, force=True)
    safety = failed.value.safety_backup
    assert safety.is_file() and safety.parent == settings.data_dir / "backups"
    line = restore_failed_line(failed.value, "--live --force")
    assert "\n" not in line and ": not a directory;" in line  # the path and the OS reason
    assert f"in the safety backup {safety}: put it back with" in line
    assert line.endswith(f"`ragops backup restore {safety} --live --force`")
    assert await _documents(settings) == set(DOCS)  # half restored: the database was replaced

    # the command the line gives brings back what the target held before
    report = await restore_backup(safety, settings=settings, key=None, force=True)
    assert report.verification.ok, report.verification.lines()
    assert await _documents(settings) == {*DOCS, "late.md"}
