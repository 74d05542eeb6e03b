"""One way to open an ONNX graph for the bench scripts that run a model file themselves
(`embedder_candidates.py`, `rerank_candidates.py`): CPU only, a fixed number of threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_session(model: Path, threads: int) -> tuple[Any, set[str]]:
    """An onnxruntime session on `model` with `threads` intra-op threads, and its input names."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return session, {i.name for i in session.get_inputs()}
