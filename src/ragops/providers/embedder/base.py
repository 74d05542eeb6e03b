"""The `Embedder` interface: texts in, L2-normalised float32 vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ragops.errors import ServiceUnavailable

Vectors = npt.NDArray[np.float32]
"""A (n, dimension) array of unit-length float32 vectors."""


class EmbedderError(ServiceUnavailable):
    """The provider failed (model missing, endpoint unreachable, refused, malformed answer)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns text into dense vectors. Implementations must be safe to call concurrently."""

    @property
    def model_id(self) -> str:
        """A stable id of the model; vectors of different ids never share a collection."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages for indexing; returns shape (len(texts), dimension)."""
        ...

    async def embed_query(self, text: str) -> Vectors:
        """Embed one search query; returns shape (dimension,)."""
        ...

    async def aclose(self) -> None:
        """Release resources (HTTP clients, sessions)."""
        ...
