"""The chat page in headless Chromium: it answers with citations and the mode, and shows
hostile text from documents and questions as text, never as markup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, RunningServer, make_settings
from tests.e2e.conftest import upload

HOSTILE_DOC = b"""# Lighthouse <img src=x onerror="window.__xss='title'">

The keeper lights the lamp at dusk <script>window.__xss='body'</script> and logs
<b onmouseover="window.__xss='b'">every</b> ship that passes the lighthouse.
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("page") / "var"
    running = RunningServer(make_settings(data_dir))
    try:
        live = running.start()
        with live.client() as client:
            assert (
                upload(client, [("lighthouse.md", HOSTILE_DOC, "text/markdown")]).status_code == 200
            )
        yield live
    finally:
        running.stop()


def _page(server: LiveServer, browser: Any) -> Any:
    """A new page whose API key field holds the server's key (the page keeps it per tab)."""
    page = browser.new_page()
    page.add_init_script(f"sessionStorage.setItem('ragops-api-key', {server.api_key!r})")
    return page


def test_page_answers_with_citations_and_escapes_everything(
    server: LiveServer, browser: Any
) -> None:
    page = _page(server, browser)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.base_url + "/")
    page.fill(
        "#question", "When does the keeper light the lamp? <img src=y onerror=\"window.__xss='q'\">"
    )
    page.click("#send")
    page.wait_for_selector(".citations li", timeout=30_000)
    page.wait_for_function("() => document.querySelector('.mode').textContent.length > 0")

    answer = page.inner_text(".answer")
    assert "dusk" in answer and "<script>" in answer  # shown as text
    assert page.inner_text(".question").endswith("onerror=\"window.__xss='q'\">")
    assert page.inner_text(".mode") == "extractive"
    citation = page.inner_text(".citations li")
    assert "[1]" in citation and "Lighthouse <img" in citation
    assert page.evaluate("window.__xss") is None
    assert page.locator(".turn img, .turn script, .turn b").count() == 0
    assert errors == []

    page.fill("#question", "Who logs the ships?")
    page.click("#send")
    page.wait_for_function(
        "() => document.querySelectorAll('.turn .mode:not([hidden])').length == 2"
    )
    assert page.locator(".turn").count() == 2
    page.close()


def test_page_shows_api_errors_as_text(server: LiveServer, browser: Any) -> None:
    page = _page(server, browser)
    page.goto(server.base_url + "/")
    page.fill("#question", "x" * 2500)
    page.click("#send")
    page.wait_for_selector(".error", timeout=30_000)
    assert "limit is 2000" in page.inner_text(".error")
    page.close()
