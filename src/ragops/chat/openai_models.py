"""Request and response shapes of the OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from ragops.schema import NOT_BOOLEAN, JsonInt, RequestModel

TokenLimit = Annotated[int, Field(ge=1), NOT_BOOLEAN] | None


class ContentPart(RequestModel):
    """A part of a multi-part message; only text parts are used."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = Field(None, max_length=100_000)


class CompletionMessage(RequestModel):
    """One message of the conversation sent by the client."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(RequestModel):
    """Options of a streamed answer."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool = Field(
        False, description="Send a last chunk with `usage` and no choices before `[DONE]`."
    )


class ResponseFormat(RequestModel):
    """The format the answer must take: ragops answers in text, with citations."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(..., description="Only `text`: JSON output is not offered.")

    @field_validator("type")
    @classmethod
    def _text_only(cls, value: str) -> str:
        if value != "text":
            raise PydanticCustomError(
                "unsupported_format",
                "only 'text' is supported, not {given!r}: ragops answers in text with "
                "citations, never in JSON",
                {"given": value[:40]},
            )
        return value


class CompletionRequest(RequestModel):
    """The subset of the chat-completions request ragops honours. The fields of OpenAI's
    request named here are checked (a wrong type is a 422 naming the field); other fields,
    such as `temperature` or `tools`, are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(..., min_length=1, max_length=100)
    messages: list[CompletionMessage] = Field(..., min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: JsonInt = Field(
        1, ge=1, le=1, description="Choices to generate: ragops answers with one, so only 1."
    )
    response_format: ResponseFormat | None = Field(
        None, description='`{"type": "text"}` only; any other type is a 422.'
    )
    max_tokens: TokenLimit = Field(
        None,
        description="Accepted (at least 1) and not applied: an answer is whole, with its "
        "citations, up to the server's RAGOPS_LLM_MAX_TOKENS.",
    )
    max_completion_tokens: TokenLimit = Field(
        None, description="The newer name of `max_tokens`, taken alike."
    )
    user: str | None = Field(None, description="The end user's id; accepted, not stored.")


class ModelCard(BaseModel):
    """One model: a collection of the caller's tenant."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "ragops"


class ModelList(BaseModel):
    """The models (collections) the caller can ask."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
