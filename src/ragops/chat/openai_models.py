"""Request and response shapes of the OpenAI-compatible chat-completions endpoint."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragops.schema import JsonInt, RequestModel


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


class CompletionRequest(RequestModel):
    """The subset of the chat-completions request ragops honours; other fields are ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(..., min_length=1, max_length=100)
    messages: list[CompletionMessage] = Field(..., min_length=1, max_length=200)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: JsonInt = Field(
        1, ge=1, le=1, description="Choices to generate: ragops answers with one, so only 1."
    )


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
