"""The request shapes every route shares (`ragops.schema`): text a database can store, and
integers as JSON Schema means them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ragops.api.middleware import without_nul
from ragops.schema import JsonInt, RequestModel


class Body(RequestModel):
    title: str
    labels: dict[str, str] = {}
    notes: list[str] = []
    count: JsonInt = 0


def test_a_nul_anywhere_in_a_body_becomes_the_replacement_character() -> None:
    body = Body.model_validate_json(
        '{"title": "a\\u0000b", "labels": {"k\\u0000": "v\\u0000"}, "notes": ["\\u0000"]}'
    )
    assert body.title == "a\ufffdb"
    assert body.labels == {"k\ufffd": "v\ufffd"}
    assert body.notes == ["\ufffd"]


def test_a_lone_surrogate_is_still_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        Body.model_validate({"title": "ok", "notes": ["\ud800"]})
    assert raised.value.errors()[0]["loc"] == ("notes",)


@pytest.mark.parametrize("value", ["true", "false"])
def test_a_boolean_is_no_integer(value: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Body.model_validate_json(f'{{"title": "t", "count": {value}}}')
    assert raised.value.errors()[0]["loc"] == ("count",)


def test_a_number_without_a_fraction_is_an_integer() -> None:
    assert Body.model_validate_json('{"title": "t", "count": 3.0}').count == 3
    with pytest.raises(ValidationError):
        Body.model_validate_json('{"title": "t", "count": 3.5}')


def test_a_nul_in_the_url_becomes_the_replacement_character() -> None:
    scope = {
        "type": "http",
        "path": "/v1/documents/a\x00b",
        "raw_path": b"/v1/documents/a%00b",
        "query_string": b"actor=x%00y&n=%2500",
    }
    clean = without_nul(scope)
    assert clean["path"] == "/v1/documents/a\ufffdb"
    assert clean["raw_path"] == b"/v1/documents/a%EF%BF%BDb"
    assert clean["query_string"] == b"actor=x%EF%BF%BDy&n=%2500"
    assert scope["path"] == "/v1/documents/a\x00b"  # the caller's scope is left as it was
    plain = {"type": "http", "path": "/v1/chat", "query_string": b"a=%2500"}
    assert without_nul(plain) is plain
