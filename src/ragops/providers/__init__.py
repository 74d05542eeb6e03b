"""Providers: the small interfaces behind which every backend sits (embedder, vector store,
LLM, cache), each with an embedded default and a production implementation chosen by settings.

Providers are infrastructure: they import `config` and `observability`, never a domain package.
"""
