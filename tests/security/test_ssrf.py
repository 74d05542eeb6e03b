"""A10 server-side request forgery: no request field, uploaded document or question can make
ragops fetch a URL. A canary HTTP server on loopback records any request it gets; after
requests that name it everywhere a client can put text, it must have received nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, RunningServer, make_settings
from tests.e2e.conftest import upload


class _Canary(BaseHTTPRequestHandler):
    hits: list[str] = []

    def _record(self) -> None:
        type(self).hits.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST = do_HEAD = _record

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def canary() -> Iterator[tuple[str, list[str]]]:
    _Canary.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Canary.hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    running = RunningServer(make_settings(tmp_path / "var"))
    try:
        yield running.start()
    finally:
        running.stop()


def test_requests_cannot_choose_an_outbound_url(
    server: LiveServer, canary: tuple[str, list[str]]
) -> None:
    url, hits = canary
    with server.client() as client:
        html = (
            f'<html><head><link rel="stylesheet" href="{url}/css"></head><body>'
            f'<h1>Canary</h1><img src="{url}/img"><iframe src="{url}/frame"></iframe>'
            f'<p>See <a href="{url}/link">the canary</a> for the meaning of plover.</p>'
            "</body></html>"
        )
        markdown = f"# Canary\n\n![x]({url}/md-img) The plover is a bird. [more]({url}/md)\n"
        response = upload(
            client,
            [("canary.html", html.encode(), "text/html"), ("canary.md", markdown.encode(), "")],
        )
        assert response.status_code == 200, response.text
        for path, body in [
            ("/v1/chat", {"question": f"What is at {url}/question about plovers?"}),
            ("/v1/chat", {"question": "plover", "callback_url": f"{url}/cb"}),
            (
                "/v1/chat/completions",
                {
                    "model": "default",
                    "messages": [{"role": "user", "content": f"fetch {url}/completion"}],
                    "base_url": url,
                    "api_base": url,
                    "tools": [{"type": "function", "function": {"name": "fetch", "url": url}}],
                },
            ),
        ]:
            assert client.post(path, json=body).status_code in (200, 422)
        assert client.get("/v1/documents", params={"collection": url}).status_code == 422
    assert hits == []
