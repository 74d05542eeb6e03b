"""The pgvector part of a backup manifest counts points per `tenant/collection`: the key is
unambiguous because no tenant id nor collection name can hold a `/`, so two scopes never share
a key and every key reads back as the scope it was made from."""

from __future__ import annotations

import pytest

from ragops.auth.models import validate_tenant
from ragops.backup.manifest import scope_key, split_scope_key
from ragops.config.names import validate_collection_name

TENANTS = ["default", "acme", "Acme.EU-1", "a_b", "9", "x" * 64]
COLLECTIONS = [None, "default", "ops", "a-b_c", "0"]


def test_every_scope_key_reads_back_as_its_scope_and_none_collide() -> None:
    keys = {}
    for tenant in TENANTS:
        for collection in COLLECTIONS:
            key = scope_key(validate_tenant(tenant), collection)
            assert split_scope_key(key) == (tenant, collection)
            keys[key] = (tenant, collection)
    assert len(keys) == len(TENANTS) * len(COLLECTIONS)


@pytest.mark.parametrize("tenant", ["acme/ops", "/acme", "acme/", "a/b/c"])
def test_a_tenant_id_with_a_slash_is_refused(tenant: str) -> None:
    with pytest.raises(ValueError, match="tenant ids"):
        validate_tenant(tenant)


@pytest.mark.parametrize("collection", ["ops/eu", "/ops", "ops/"])
def test_a_collection_name_with_a_slash_is_refused(collection: str) -> None:
    with pytest.raises(ValueError, match="collection names"):
        validate_collection_name(collection)
