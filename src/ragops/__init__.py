"""ragops: a RAG chatbot API with its operations built in."""

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed metadata on first use (importlib.metadata is
    slow to import, and `ragops --help` should not pay for it)."""
    if name != "__version__":
        raise AttributeError(f"module 'ragops' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("ragops")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        value = "0.0.0"
    globals()["__version__"] = value
    return value
