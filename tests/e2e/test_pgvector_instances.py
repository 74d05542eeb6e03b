"""Two ragops servers on one PostgreSQL database with its vectors in pgvector: what one
instance ingests, the other answers from at once, and a delete through one is gone for both
(the embedded store could not even open twice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import PgVectorServer, pgvector_settings
from tests.e2e.conftest import GARDEN_DOC, upload

QUESTION = {"question": "How many hours of sun do tomatoes need?", "collection": "garden"}


def test_two_instances_share_documents_and_vectors(
    tmp_path: Path, pgvector_server: PgVectorServer, serve_app: Any
) -> None:
    with pgvector_settings(pgvector_server, tmp_path / "a") as settings:
        first = serve_app(settings)
        second_settings = settings.model_copy(update={"data_dir": tmp_path / "b"})
        second = serve_app(second_settings)
        second.api_key = first.api_key  # one database: the key works on every instance
        with first.client() as a, second.client() as b:
            created = upload(a, [("garden.md", GARDEN_DOC, "text/markdown")], collection="garden")
            assert created.status_code == 200, created.text
            document_id = created.json()["results"][0]["document"]["id"]

            answer = b.post("/v1/chat", json=QUESTION)
            assert answer.status_code == 200, answer.text
            assert "six hours" in answer.json()["answer"]
            assert answer.json()["citations"][0]["document_id"] == document_id

            assert b.delete(f"/v1/documents/{document_id}").status_code == 204
            gone = a.post("/v1/chat", json=QUESTION)
            assert gone.status_code == 200 and gone.json()["citations"] == []
