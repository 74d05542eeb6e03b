"""Cache keys: tenant, collection and corpus version in the readable prefix (so a clear can
delete by prefix), the normalised question, its retrieval query and everything else that
changes an answer hashed behind it.

    answers:<tenant>:<collection>:v<corpus version>:x:<sha256>   exact entries
    answers:<tenant>:<collection>:v<corpus version>:s            the semantic index scope
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from urllib.parse import quote

from ragops.config import Settings

ROOT = "answers:"
_TRAILING = re.compile(r"[\s?!.。？！]+$")


def normalise(text: str) -> str:
    """Case-, width- and whitespace-insensitive form of a question; final punctuation
    dropped ("What is X?" and "what is x" are the same question)."""
    flat = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return _TRAILING.sub("", flat)


def fingerprint(settings: Settings, *, prompt: str, embedder_model: str, rules: str = "") -> str:
    """A digest of every setting that changes an answer to the same question on the same
    corpus: answer mode, model and sampling, prompt, the answering rules' version, retrieval
    (the second embedder, its floor and weight included) and history settings."""
    generated = settings.llm_base_url is not None
    parts = {
        "mode": "generated" if generated else "extractive",
        "model": settings.llm_model if generated else None,
        "temperature": settings.llm_temperature if generated else None,
        "max_tokens": settings.llm_max_tokens if generated else None,
        "prompt": hashlib.sha256(prompt.encode()).hexdigest()[:16],
        "rules": rules,
        "embedder": embedder_model,
        "top_k": settings.top_k,
        "candidate_k": settings.candidate_k,
        "score_floor": settings.score_floor,
        "scope_cosine": settings.scope_cosine,
        "fusion": [settings.fusion, settings.rrf_k, settings.dense_weight, settings.sparse_weight],
        "reranker": settings.reranker,
        "sentence_vectors": settings.sentence_vectors,
        "second": [settings.second_embedder, settings.second_score_floor, settings.second_weight],
        "history_turns": settings.history_turns,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def scope_prefix(tenant_id: str | None = None, collection: str | None = None) -> str:
    """The key prefix of a tenant's (and collection's) entries; everything when both None."""
    if tenant_id is None:
        return ROOT
    prefix = f"{ROOT}{quote(tenant_id, safe='')}:"
    return prefix if collection is None else f"{prefix}{collection}:"


def version_prefix(tenant_id: str, collection: str, version: int) -> str:
    """The prefix of one corpus version's entries."""
    return f"{scope_prefix(tenant_id, collection)}v{version}:"


def exact_key(
    *, tenant_id: str, collection: str, version: int, fingerprint: str, question: str, query: str
) -> str:
    """The exact entry of a question whose standalone retrieval query is `query`."""
    asked, standalone = normalise(question), normalise(query)
    material = json.dumps([fingerprint, asked, standalone if standalone != asked else ""])
    digest = hashlib.sha256(material.encode()).hexdigest()
    return f"{version_prefix(tenant_id, collection, version)}x:{digest}"


def semantic_scope(*, tenant_id: str, collection: str, version: int, fingerprint: str) -> str:
    """The semantic index scope: same tenant, collection, corpus version and settings."""
    return f"{version_prefix(tenant_id, collection, version)}s:{fingerprint}"
