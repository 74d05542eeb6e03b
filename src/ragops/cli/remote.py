"""Commands through a running server's HTTP API.

A command goes through the API when `--url` (`RAGOPS_API_URL`) names a server, or when
`ragops serve` runs on the same data directory (see `server_state`); otherwise it works in this
process. The key sent is `--api-key` (`RAGOPS_API_KEY`); beside a local server without one,
the command makes a temporary key of the tenant it acts for (the scopes it needs, ten minutes
of life) in the shared database and revokes it when done; both are audit events, like the
command's own actions, which the server records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragops.cli.runner import fail, load_settings
from ragops.server_state import STATE_FILE

if TYPE_CHECKING:
    import httpx

    from ragops.documents.models import IngestOutcome

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="RAGOPS_API_URL",
        help="Go through this ragops server's API (default: the server running on this data).",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="RAGOPS_API_KEY",
        help="API key sent to the server (default beside a local server: a temporary key).",
        show_default=False,
    ),
]

HEALTH_WAIT_SECONDS = 30.0
TEMPORARY_KEY_LIFETIME = timedelta(minutes=10)
MAX_RETRIES_AFTER_429 = 5


@dataclass(frozen=True)
class Remote:
    """The server a command goes through."""

    url: str
    api_key: str | None
    local_pid: int | None = None  # set when found running on this data directory

    @property
    def where(self) -> str:
        """How messages name the server."""
        pid = f" (pid {self.local_pid})" if self.local_pid else ""
        return f"the ragops server at {self.url}{pid}"


def find_remote(url: str | None, api_key: str | None) -> Remote | None:
    """The server to go through, or None to work in this process."""
    if url:
        return Remote(url=url.rstrip("/"), api_key=api_key)
    from ragops.server_state import read_state

    state = read_state(load_settings().data_dir)
    if state is None:
        return None
    return Remote(url=state.url, api_key=api_key, local_pid=state.pid)


def check_tenant(remote: Remote, tenant: str | None) -> None:
    """`--tenant` with an explicit key cannot apply: the key's tenant does."""
    if remote.api_key and tenant is not None:
        fail("--tenant does not apply with an API key: the server acts for the key's tenant")


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return str(error.get("message") or response.text[:200])
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _wait_for_health(client: httpx.Client, remote: Remote) -> None:
    import httpx

    deadline = time.monotonic() + (HEALTH_WAIT_SECONDS if remote.local_pid else 0)
    hint = ""
    if remote.local_pid:
        hint = f" (if no ragops server runs here, remove {STATE_FILE} from the data directory)"
    while True:
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.HTTPError as exc:
            if time.monotonic() >= deadline:
                fail(f"cannot reach {remote.where}: {exc}{hint}")
        if time.monotonic() >= deadline:
            fail(f"{remote.where} does not answer /healthz{hint}")
        time.sleep(0.25)


@contextmanager
def _temporary_key(tenant: str, scopes: Sequence[str]) -> Iterator[str]:
    """A short-lived key of `tenant` in the shared database, revoked on exit."""
    from ragops.auth import service
    from ragops.cli.keys import with_database

    async def create(db: Any, _: Any) -> tuple[str, str]:
        created = await service.create_key(
            db=db,
            tenant_id=tenant,
            scopes=list(scopes),
            name="ragops CLI (temporary)",
            lifetime=TEMPORARY_KEY_LIFETIME,
        )
        return created.key, created.api_key.id

    async def revoke(db: Any, _: Any) -> None:
        await service.revoke_key(db=db, key_id=key_id, tenant_id=tenant)

    # The two key events are in the audit trail (the database); their log lines would only
    # clutter this command's output.
    audit_log = logging.getLogger("ragops.audit")
    level = audit_log.level
    audit_log.setLevel(logging.WARNING)
    try:
        key, key_id = with_database(create)
        try:
            yield key
        finally:
            with_database(revoke)
    finally:
        audit_log.setLevel(level)


@contextmanager
def api_client(remote: Remote, tenant: str | None, scopes: Sequence[str]) -> Iterator[ApiClient]:
    """A client of `remote` that is up and authenticated for `tenant` with `scopes`."""
    import httpx

    with httpx.Client(base_url=remote.url, timeout=300) as client:
        _wait_for_health(client, remote)
        if remote.api_key:
            client.headers["Authorization"] = f"Bearer {remote.api_key}"
            yield ApiClient(client, remote)
        elif remote.local_pid is not None and load_settings().auth_enabled:
            with _temporary_key(tenant or "default", scopes) as key:
                client.headers["Authorization"] = f"Bearer {key}"
                yield ApiClient(client, remote)
        elif tenant not in (None, "default"):
            fail("without an API key the server acts for tenant 'default' only")
        else:
            yield ApiClient(client, remote)


class ApiClient:
    """The API calls the CLI makes; an error answer becomes one line and exit 1."""

    def __init__(self, client: httpx.Client, remote: Remote) -> None:
        self.client = client
        self.remote = remote

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """Send a request (waiting out 429s); the response, or exit with the server's message."""
        import httpx

        for _ in range(MAX_RETRIES_AFTER_429 + 1):
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                fail(f"cannot reach {self.remote.where}: {exc}")
            if response.status_code != 429:
                break
            time.sleep(min(float(response.headers.get("Retry-After") or 1), 60.0))
        if response.is_success or response.status_code in ok:
            return response
        hint = ""
        if response.status_code == 401:
            hint = " (send a key with --api-key or RAGOPS_API_KEY)"
        fail(f"{_message(response)}{hint}")

    def documents(self, collection: str | None) -> list[dict[str, Any]]:
        """Every document of the key's tenant (all pages)."""
        items: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": 500, "offset": len(items)}
            if collection:
                params["collection"] = collection
            page = self.call("GET", "/v1/documents", params=params).json()
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items

    def submit_job(self, files: Sequence[tuple[str, bytes]], collection: str | None) -> str:
        """Upload files as one background ingestion job; its id."""
        data: dict[str, Any] = {"sources": [source for source, _ in files]}
        if collection:
            data["collection"] = collection
        response = self.call(
            "POST",
            "/v1/documents",
            params={"async": "true"},
            files=[("files", (source.rsplit("/", 1)[-1], body)) for source, body in files],
            data=data,
        )
        return str(response.json()["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        """A background job's state, progress and outcomes."""
        body: dict[str, Any] = self.call("GET", f"/v1/jobs/{job_id}").json()
        return body

    def ingest(
        self, files: Sequence[tuple[str, bytes]], collection: str | None
    ) -> list[IngestOutcome]:
        """Upload files in one request; their outcomes (a refused file is an error outcome)."""
        from ragops.documents.models import IngestFailure, IngestOutcome

        data: dict[str, Any] = {"sources": [source for source, _ in files]}
        if collection:
            data["collection"] = collection
        response = self.call(
            "POST",
            "/v1/documents",
            ok=(413, 415, 422),
            files=[("files", (source.rsplit("/", 1)[-1], body)) for source, body in files],
            data=data,
        )
        body = response.json()
        if "results" in body:
            return [IngestOutcome.model_validate(item) for item in body["results"]]
        if len(files) > 1 and response.status_code == 413:  # the request as a whole was too big
            return [o for f in files for o in self.ingest([f], collection)]
        if len(files) == 1 and response.status_code in (413, 415, 422):
            error = body.get("error") or {}
            failure = IngestFailure(code=error.get("code", "error"), message=_message(response))
            return [IngestOutcome(filename=files[0][0], status="error", error=failure)]
        fail(_message(response))
