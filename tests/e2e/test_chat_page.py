"""The chat page in headless Chromium: it answers with citations and the mode, shows hostile
text from documents and questions as text, never as markup, and no key of a document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, RunningServer, make_settings
from tests.e2e.conftest import CREDENTIALS_DOC, DOC_PROVIDER_KEY, DOC_RAGOPS_KEY, upload

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


def test_page_shows_no_key_of_a_document_in_answer_or_citation(
    tmp_path: Path, browser: Any
) -> None:
    running = RunningServer(make_settings(tmp_path / "var"))
    try:
        live = running.start()
        with live.client() as client:
            files = [("staging.md", CREDENTIALS_DOC, "text/markdown")]
            assert upload(client, files).status_code == 200
        page = _page(live, browser)
        page.goto(live.base_url + "/")
        page.fill("#question", "What is the staging deploy token?")
        page.click("#send")
        page.wait_for_selector(".citations li", timeout=30_000)
        shown = page.inner_text(".turn")
        assert "[redacted]" in page.inner_text(".citations .snippet"), shown
        for key in (DOC_RAGOPS_KEY, DOC_PROVIDER_KEY):
            assert key[:16] not in shown and key[:16] not in page.content()
        page.close()
    finally:
        running.stop()


def test_page_shows_api_errors_as_text(server: LiveServer, browser: Any) -> None:
    page = _page(server, browser)
    page.goto(server.base_url + "/")
    page.fill("#question", "x" * 2500)
    page.click("#send")
    page.wait_for_selector(".error", timeout=30_000)
    assert "limit is 2000" in page.inner_text(".error")
    page.close()


def test_page_asks_for_models_only_once_a_key_is_entered(server: LiveServer, browser: Any) -> None:
    with server.client() as client:
        files = [("tides.md", b"# Tides\n\nThe tide turns every six hours.\n", "text/markdown")]
        assert upload(client, files, collection="harbour").status_code == 200
    page = browser.new_page()  # no key stored in this tab
    asked: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server.base_url + "/")
    page.wait_for_function("() => document.querySelector('#key-hint').textContent.length > 0")
    assert "API key" in page.inner_text("#key-hint")
    assert not [url for url in asked if "/v1/" in url]  # no call, so no 401 in the console
    assert errors == []
    assert page.eval_on_selector_all("#collection option", "o => o.length") == 1

    page.fill("#apikey", str(server.api_key))  # typed, not yet left: the list still fills
    page.wait_for_function("() => document.querySelectorAll('#collection option').length >= 2")
    names = page.eval_on_selector_all("#collection option", "os => os.map(o => o.value)")
    assert {"default", "harbour"} <= set(names)
    assert page.inner_text("#key-hint") == ""
    assert errors == []

    page.select_option("#collection", "harbour")
    page.fill("#question", "How often does the tide turn?")
    page.click("#send")
    page.wait_for_selector(".citations li", timeout=30_000)
    assert "six hours" in page.inner_text(".answer")
    page.close()


def test_page_without_auth_lists_collections_at_once(tmp_path: Path, browser: Any) -> None:
    running = RunningServer(make_settings(tmp_path / "var", auth_enabled=False))
    try:
        live = running.start()
        page = browser.new_page()
        page.goto(live.base_url + "/")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#collection option')]"
            ".some(o => o.value === 'default')"
        )
        assert page.inner_text("#key-hint") == ""
        page.close()
    finally:
        running.stop()


def test_changing_the_collection_starts_a_new_conversation(
    server: LiveServer, browser: Any
) -> None:
    """A session belongs to one collection: after the user picks another, the next question
    is answered from it (a new session), not refused as another collection's follow-up."""
    with server.client() as client:
        files = [("bells.md", b"# Bells\n\nThe harbour bell rings at noon.\n", "text/markdown")]
        assert upload(client, files, collection="bells").status_code == 200
    page = _page(server, browser)
    page.goto(server.base_url + "/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#collection option')].some(o => o.value === 'bells')"
    )
    page.fill("#question", "When does the keeper light the lamp?")
    page.click("#send")
    page.wait_for_function(
        "() => document.querySelectorAll('.turn .mode:not([hidden]), .turn .error').length == 1",
        timeout=30_000,
    )
    assert "dusk" in page.inner_text(".turn .answer"), page.inner_text(".turn")

    page.select_option("#collection", "bells")
    page.fill("#question", "When does the harbour bell ring?")
    page.click("#send")
    page.wait_for_function(
        "() => document.querySelectorAll('.turn .mode:not([hidden]), .turn .error').length == 2",
        timeout=30_000,
    )
    assert page.locator(".turn .error").count() == 0, page.inner_text(".turn .error")
    assert "noon" in page.locator(".turn .answer").last.inner_text()
    page.close()


def test_page_says_when_the_server_cannot_be_reached(tmp_path: Path, browser: Any) -> None:
    """A question asked while the server is down gets a message, not an empty answer."""
    running = RunningServer(make_settings(tmp_path / "var"))
    live = running.start()
    try:
        page = _page(live, browser)
        page.goto(live.base_url + "/")
    finally:
        running.stop()
    page.fill("#question", "Is anyone there?")
    page.click("#send")
    page.wait_for_selector(".turn .error", timeout=30_000)
    assert "could not be reached" in page.inner_text(".turn .error")
    assert page.is_enabled("#send")
    page.close()
