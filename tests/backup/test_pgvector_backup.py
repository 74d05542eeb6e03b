"""Backups on PostgreSQL + pgvector: the vectors travel inside the database dump. A round trip
brings every point back and answers a question as before; verify restores into a scratch
database; a corrupted backup, a restore over live data without --force, a target server
without pgvector and a vector store in another database are refused; a forced restore over a
database whose tables another session holds gives up after its lock timeout, naming it."""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from ragops.backup.archive import InvalidBackup
from ragops.backup.database import asyncpg_dsn, dump_listing
from ragops.backup.lock_wait import RestoreLockTimeout
from ragops.backup.manifest import PG_DUMP_FILE
from ragops.backup.restore import RestoreRefused, restore_backup, verify_backup
from ragops.backup.service import BackupError, BackupResult, create_backup
from ragops.chat.passages import retrieve
from ragops.config import Settings
from ragops.db import migrate
from ragops.documents import service as documents
from ragops.providers.vectorstore.pgvector import PgVectorStore
from ragops.runtime import Runtime
from tests.backup.test_backup_restore import DOCS, _documents, _fill, _flip_byte
from tests.conftest import (
    PgVectorServer,
    pg_database,
    pgvector_database,
    pgvector_settings,
    run_cli,
)

QUESTION = "nightly backup kept"


async def _answer(runtime: Runtime) -> list[tuple[str, str, float]]:
    passages, _, _ = await retrieve(
        runtime.chat_deps, tenant_id="default", query=QUESTION, collection="ops"
    )
    return [(p.chunk_id, p.text, round(p.score, 5)) for p in passages]


async def _backed_up(settings: Settings) -> tuple[BackupResult, list[tuple[str, str, float]]]:
    """A filled live instance, its backup, then a document written after the backup."""
    await migrate.upgrade(settings)
    runtime = await Runtime.start(settings)
    try:
        assert isinstance(runtime.store, PgVectorStore)
        await _fill(runtime)
        result = await create_backup(settings=settings, store=runtime.store)
        answer = await _answer(runtime)
        await documents.ingest_bytes(
            runtime.ingest_deps,
            tenant_id="default",
            collection="ops",
            source="late.md",
            data=b"# Late\n\nThe nightly backup moved to the second vault after the backup.\n",
        )
    finally:
        await runtime.aclose()
    return result, answer


async def _sentence_rows(settings: Settings) -> int:
    """Rows of the pgvector store's sentence table in the settings' database."""
    conn = await asyncpg.connect(asyncpg_dsn(make_url(settings.resolved_database_url)))
    try:
        name = await conn.fetchval(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE '%\\_sentences'"
        )
        return int(await conn.fetchval(f'SELECT count(*) FROM "{name}"'))
    finally:
        await conn.close()


async def _database_names(server: PgVectorServer) -> set[str]:
    conn = await asyncpg.connect(host=str(server.socket_dir), user="postgres", database="postgres")
    try:
        return {r[0] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


async def test_round_trip_brings_the_vectors_back_and_answers_alike(
    pgvector_server: PgVectorServer, tmp_path: Path
) -> None:
    bins = pgvector_server.bin_dir
    with pgvector_settings(
        pgvector_server, tmp_path / "live", pg_bin_dir=bins, sentence_vectors=True
    ) as settings:
        result, answer = await _backed_up(settings)
        manifest = result.manifest
        vectors = manifest.vectors
        chunks = manifest.database.tables["chunks"]
        assert vectors.backend == "pgvector" and vectors.path == PG_DUMP_FILE
        assert vectors.points == chunks > 0
        assert vectors.scopes == {"default/ops": chunks}
        table, terms, sentences = vectors.tables
        assert manifest.database.tables[table] == chunks and manifest.database.tables[terms] > 0
        units = manifest.database.tables[sentences]
        assert units > chunks  # a title and at least one sentence per chunk
        assert answer and "fourteen days" in answer[0][1]

        with pgvector_database(pgvector_server) as target_url:
            target = settings.model_copy(
                update={"data_dir": tmp_path / "restored", "database_url": target_url}
            )
            report = await restore_backup(result.path, settings=target, key=None)
            assert report.verification.ok, report.verification.lines()
            assert report.verification.points_found == chunks
            assert report.verification.stores is not None
            assert report.verification.stores.missing_points == []
            assert report.verification.stores.orphan_points == []
            assert await _documents(target) == set(DOCS)  # late.md came after the backup
            restored = await Runtime.start(target)
            try:
                assert await restored.store.total_points() == chunks
                assert await _sentence_rows(target) == units  # the late document's are not
                assert await _answer(restored) == answer  # ranked with the sentence signal
            finally:
                await restored.aclose()

        before = await _database_names(pgvector_server)
        verified = await verify_backup(result.path, settings=settings, key=None)
        assert verified.verification.ok, verified.verification.lines()
        assert verified.verification.points_found == chunks
        assert await _database_names(pgvector_server) == before  # scratch database dropped


async def test_refusals_and_a_forced_restore_over_live_data(
    pgvector_server: PgVectorServer, tmp_path: Path
) -> None:
    bins = pgvector_server.bin_dir
    with pgvector_settings(pgvector_server, tmp_path / "live", pg_bin_dir=bins) as settings:
        result, answer = await _backed_up(settings)
        with tarfile.open(result.path) as tar:
            tar.extract(PG_DUMP_FILE, tmp_path, filter="data")
        listing = await dump_listing(tmp_path / PG_DUMP_FILE, 16, bins)
        table = result.manifest.vectors.tables[0]
        assert " EXTENSION - vector " in listing and f" TABLE DATA public {table} " in listing

        # over live data: refused without --force, the live data untouched
        with pytest.raises(RestoreRefused, match="--force"):
            await restore_backup(result.path, settings=settings, key=None)
        assert await _documents(settings) == {*DOCS, "late.md"}

        # a corrupted dump: detected and refused before anything changes
        corrupted = tmp_path / "corrupted.tar"
        with tarfile.open(result.path) as tar, tarfile.open(corrupted, "w") as out:
            for entry in tar.getmembers():
                out.addfile(entry, tar.extractfile(entry))
        with tarfile.open(corrupted) as tar:
            member = tar.getmember(PG_DUMP_FILE)
        _flip_byte(corrupted, member.offset_data + member.size // 2)
        with pytest.raises(InvalidBackup) as refused:
            await restore_backup(corrupted, settings=settings, key=None, force=True)
        assert any(f"checksum mismatch: {PG_DUMP_FILE}" in p for p in refused.value.problems)
        with pytest.raises(InvalidBackup):
            await verify_backup(corrupted, settings=settings, key=None)
        assert await _documents(settings) == {*DOCS, "late.md"}

        # --force: a safety backup of the live data first, then the backup's state
        report = await restore_backup(result.path, settings=settings, key=None, force=True)
        assert report.verification.ok, report.verification.lines()
        assert report.safety_backup is not None
        safety = report.safety_backup.manifest
        assert safety.vectors.backend == "pgvector"
        late = safety.vectors.points - result.manifest.vectors.points
        assert safety.vectors.points == safety.database.tables["chunks"] and late > 0
        assert await _documents(settings) == set(DOCS)
        runtime = await Runtime.start(settings)
        try:
            assert await _answer(runtime) == answer  # late.md's vectors are gone too
        finally:
            await runtime.aclose()

        # another vector database: refused with the reason
        with pgvector_database(pgvector_server) as other:
            elsewhere = settings.model_copy(update={"pgvector_url": other})
            store = PgVectorStore(elsewhere, model_id="m", dimension=3)
            with pytest.raises(BackupError, match="another database"):
                await create_backup(settings=elsewhere, store=store, directory=tmp_path / "o")
            assert not list((tmp_path / "o").iterdir())


async def test_a_server_without_pgvector_is_refused_as_target(
    pgvector_server: PgVectorServer, tmp_path: Path
) -> None:
    """The machine's own PostgreSQL has no vector extension: the restore says so up front."""
    bins = pgvector_server.bin_dir
    with pg_database() as plain_url:
        conn = await asyncpg.connect(plain_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            has_vector = await conn.fetchval(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
            )
        finally:
            await conn.close()
        if has_vector:
            pytest.skip("this machine's PostgreSQL has pgvector")
        with pgvector_settings(pgvector_server, tmp_path / "live", pg_bin_dir=bins) as settings:
            await migrate.upgrade(settings)
            runtime = await Runtime.start(settings)
            try:
                result = await create_backup(settings=settings, store=runtime.store)
            finally:
                await runtime.aclose()
        target = settings.model_copy(update={"data_dir": tmp_path / "t", "database_url": plain_url})
        with pytest.raises(RestoreRefused, match="no pgvector extension"):
            await restore_backup(result.path, settings=target, key=None)


async def test_a_forced_restore_gives_up_on_tables_another_instance_holds(
    pgvector_server: PgVectorServer, tmp_path: Path
) -> None:
    """Another instance's session left a transaction open on the live database: the forced
    restore does not wait forever; it gives up after its lock timeout, names the session and
    what to do, and changes nothing, through the API and through `ragops backup restore`. Once
    the session ends, the restore goes through."""
    bins = pgvector_server.bin_dir
    with pgvector_settings(pgvector_server, tmp_path / "live", pg_bin_dir=bins) as settings:
        result, _ = await _backed_up(settings)
        holder = await asyncpg.connect(
            asyncpg_dsn(make_url(settings.resolved_database_url)),
            server_settings={"application_name": "ragops-other-host"},
        )
        try:
            transaction = holder.transaction()
            await transaction.start()
            await holder.fetchval("SELECT count(*) FROM documents")  # holds the table
            async with asyncio.timeout(300):  # a hang fails the test instead of blocking it
                with pytest.raises(RestoreLockTimeout) as gave_up:
                    await restore_backup(
                        result.path, settings=settings, key=None, force=True, lock_timeout=1
                    )
            message = str(gave_up.value)
            assert f"pid {holder.get_server_pid()} (application ragops-other-host" in message
            assert "idle in transaction" in message and "documents" in message
            assert "nothing was changed" in message
            assert "Stop every ragops instance" in message and "--lock-timeout" in message
            assert await _documents(settings) == {*DOCS, "late.md"}  # untouched

            cli = await asyncio.to_thread(
                run_cli,
                settings.data_dir,
                *("backup", "restore", str(result.path), "--live", "--force"),
                *("--lock-timeout", "1"),
                check=False,
                env={
                    "RAGOPS_DATABASE_URL": settings.resolved_database_url,
                    "RAGOPS_VECTOR_STORE": "pgvector",
                    "RAGOPS_PG_BIN_DIR": str(bins),
                },
            )
            said = " ".join(cli.stderr.split())
            assert cli.returncode == 1, cli.stdout + cli.stderr
            assert "gave up; nothing was changed" in said
            assert f"pid {holder.get_server_pid()} (application ragops-other-host" in said
            assert "ragops db kill PID" in said
            assert await _documents(settings) == {*DOCS, "late.md"}
            await transaction.rollback()
        finally:
            await holder.close()

        report = await restore_backup(result.path, settings=settings, key=None, force=True)
        assert report.verification.ok, report.verification.lines()
        assert await _documents(settings) == set(DOCS)
