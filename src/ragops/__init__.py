"""ragops: a RAG chatbot API with its operations built in."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ragops")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
