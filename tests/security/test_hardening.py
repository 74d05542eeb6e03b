"""HTTP hardening over real HTTP: CORS allowlist, security headers and CSP on every response
(the pages still work in headless Chromium under their CSP), HSTS over TLS only, trusted
proxies for the client address, and the API documentation switched off in production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ragops.documents.extract import extract
from ragops.main import create_app
from ragops.security.cors import CorsConfigError
from ragops.security.headers import hsts_wanted
from ragops.security.proxies import TrustedProxies
from tests.conftest import LiveServer, RunningServer, make_settings
from tests.e2e.conftest import POOL_DOC, upload

ALLOWED = "https://app.example"
BASE = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def _serve(data_dir: Path, **overrides: Any) -> RunningServer:
    running = RunningServer(make_settings(data_dir, auth_enabled=False, **overrides))
    # ragops decides which forwarded headers to believe; uvicorn must not rewrite the peer.
    running.server.config.proxy_headers = False
    return running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    running = _serve(
        tmp_path_factory.mktemp("hardening") / "var",
        cors_origins=[ALLOWED],
        trusted_proxies=["10.0.0.0/8"],  # not the test client's 127.0.0.1
        max_request_bytes=50_000,
    )
    try:
        live = running.start()
        with httpx.Client(base_url=live.base_url, timeout=60) as client:
            assert upload(client, [("pool.md", POOL_DOC, "text/markdown")]).status_code == 200
        yield live
    finally:
        running.stop()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    running = _serve(
        tmp_path_factory.mktemp("proxied") / "var", trusted_proxies=["127.0.0.1", "10.0.0.0/8"]
    )
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        yield c


def _cors_headers(response: httpx.Response) -> list[str]:
    return [name for name in response.headers if name.lower().startswith("access-control-")]


def test_security_headers_on_json_errors_and_pages(client: httpx.Client) -> None:
    responses = [
        client.get("/healthz"),
        client.get("/v1/documents"),
        client.get("/no-such-page"),
        client.post("/v1/chat", content=b"x" * 60_000, headers={"Content-Type": "text/plain"}),
        client.get("/"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 413, 200]
    for response in responses:
        for name, value in BASE.items():
            assert response.headers[name] == value, (response.url, name)
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "strict-transport-security" not in response.headers  # plain HTTP
    assert responses[0].headers["content-security-policy"].startswith("default-src 'none'")
    page_policy = responses[-1].headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in page_policy
    assert "style-src 'self' 'sha256-" in page_policy
    assert "unsafe-inline" not in page_policy and "unsafe-eval" not in page_policy


def test_cors_allowlist(client: httpx.Client) -> None:
    allowed = client.get("/healthz", headers={"Origin": ALLOWED})
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "RateLimit-Remaining" in allowed.headers["access-control-expose-headers"]
    assert "Origin" in allowed.headers["vary"]

    refused = client.get("/v1/documents", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 200 and _cors_headers(refused) == []
    assert "Origin" in refused.headers["vary"]

    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    ok = client.options("/v1/chat", headers={"Origin": ALLOWED, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in ok.headers["access-control-allow-methods"]
    denied = client.options("/v1/chat", headers={"Origin": "https://evil.example", **preflight})
    assert denied.status_code == 403 and _cors_headers(denied) == []
    assert denied.json()["error"]["code"] == "cors_origin_refused"
    assert denied.headers["x-content-type-options"] == "nosniff"


def test_preflight_of_an_allowed_origin_asking_too_much_is_a_json_4xx(client: httpx.Client) -> None:
    """An allowed origin asking for a method or header the API does not allow gets the API's
    error shape naming what was refused, and no CORS grant (not Starlette's plain text)."""
    for asked, refused in (
        ({"Access-Control-Request-Method": "PUT"}, "PUT"),
        (
            {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-evil"},
            "x-evil",
        ),
    ):
        answer = client.options("/v1/chat", headers={"Origin": ALLOWED, **asked})
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        error = answer.json()["error"]
        assert error["code"] == "cors_preflight_refused" and refused in error["message"]
        assert _cors_headers(answer) == []
        assert "Origin" in answer.headers["vary"]
        assert answer.headers["x-content-type-options"] == "nosniff"


def _preflights_counted(client: httpx.Client) -> dict[str, float]:
    """`ragops_http_requests_total` of route `preflight`, by status, from a scrape."""
    counted: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "ragops_http_requests_total":
                if sample.labels["route"] == "preflight":
                    assert sample.labels["method"] == "OPTIONS"
                    counted[sample.labels["status"]] = sample.value
    return counted


def test_preflights_answered_by_cors_are_counted_under_one_route(client: httpx.Client) -> None:
    """CORS sits outside the request metrics (so a browser reads the refusals inside it); the
    preflights it answers itself are still counted, as `OPTIONS` route `preflight` whatever
    path they ask about, with their status."""
    before = _preflights_counted(client)
    asked = {"Access-Control-Request-Method": "POST"}
    for path in ("/v1/chat", "/v1/sessions/abc", "/no/such/path"):
        assert client.options(path, headers={"Origin": ALLOWED, **asked}).status_code == 200
    refused = client.options(
        "/v1/chat", headers={"Origin": "https://evil.example", **asked}
    ).status_code
    too_much = client.options(
        "/v1/chat", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PUT"}
    ).status_code
    assert (refused, too_much) == (403, 403)
    after = _preflights_counted(client)
    assert after.get("200", 0) - before.get("200", 0) == 3
    assert after.get("403", 0) - before.get("403", 0) == 2


def test_an_allowed_origin_can_read_a_413_of_the_body_limit(client: httpx.Client) -> None:
    """The body limit answers before the routes; an allowed origin's script must still be able
    to read its 413 (without CORS headers the browser reports a network error instead)."""
    answer = client.post(
        "/v1/chat",
        content=b"x" * 60_000,
        headers={"Origin": ALLOWED, "Content-Type": "application/json"},
    )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert "X-Request-ID" in answer.headers["access-control-expose-headers"]
    assert answer.headers["x-request-id"] == answer.json()["error"]["request_id"]


def test_unsafe_cors_settings_stop_the_start(tmp_path: Path) -> None:
    with pytest.raises(CorsConfigError, match="RAGOPS_CORS_ALLOW_CREDENTIALS"):
        create_app(make_settings(tmp_path, cors_origins=["*"], cors_allow_credentials=True))
    with pytest.raises(CorsConfigError, match="not an origin"):
        create_app(make_settings(tmp_path, cors_origins=["https://app.example/"]))
    create_app(make_settings(tmp_path, cors_origins=["*"]))  # '*' without credentials is fine


def _remaining(client: httpx.Client, forwarded_for: str, proto: str = "http") -> httpx.Response:
    return client.get(
        "/v1/collections",
        headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": proto},
    )


def test_forwarded_headers_of_an_untrusted_peer_are_ignored(client: httpx.Client) -> None:
    first = _remaining(client, "203.0.113.1", "https")
    second = _remaining(client, "203.0.113.2", "https")
    # One per-address count: the spoofed addresses are not believed, nor is the https claim.
    assert (
        int(second.headers["RateLimit-Remaining"]) == int(first.headers["RateLimit-Remaining"]) - 1
    )
    assert "strict-transport-security" not in second.headers


def test_trusted_proxy_gives_the_right_most_untrusted_address(proxied: LiveServer) -> None:
    with httpx.Client(base_url=proxied.base_url, timeout=60) as client:
        a = [
            _remaining(client, f"{spoof}, 198.51.100.7, 10.0.0.5")
            for spoof in ("1.1.1.1", "2.2.2.2")
        ]
        b = _remaining(client, "198.51.100.8, 10.0.0.5", "https")
    # The client's own entries (left of the real address) change nothing: one count.
    assert [int(r.headers["RateLimit-Remaining"]) for r in a] == [299, 298]
    assert int(b.headers["RateLimit-Remaining"]) == 299  # another client address
    assert b.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "strict-transport-security" not in a[0].headers


def test_client_address_rules() -> None:
    proxies = TrustedProxies.from_settings(["127.0.0.1", "10.0.0.0/8"])

    def scope(peer: str, xff: str | None) -> dict[str, Any]:
        headers = [(b"x-forwarded-for", xff.encode())] if xff else []
        return {"type": "http", "client": (peer, 5000), "headers": headers}

    assert proxies.client_address(scope("192.0.2.9", "1.1.1.1")) == "192.0.2.9"
    assert proxies.client_address(scope("127.0.0.1", "1.1.1.1, 192.0.2.9")) == "192.0.2.9"
    assert proxies.client_address(scope("127.0.0.1", "10.1.1.1, 10.2.2.2")) == "10.1.1.1"
    assert proxies.client_address(scope("127.0.0.1", "junk, 10.2.2.2")) == "10.2.2.2"
    assert proxies.client_address(scope("127.0.0.1", None)) == "127.0.0.1"
    assert proxies.client_address(scope("::ffff:192.0.2.1", "1.1.1.1")) == "192.0.2.1"
    assert hsts_wanted(None, environment="production", tls=False)
    assert hsts_wanted(True, environment="development", tls=False)
    assert not hsts_wanted(False, environment="production", tls=True)
    assert hsts_wanted(None, environment="development", tls=True)


def test_docs_switch(tmp_path: Path, client: httpx.Client) -> None:
    assert client.get("/openapi.json").status_code == 200  # on by default outside production
    running = _serve(
        tmp_path / "var",
        environment="production",
        allow_embedded_in_production=True,
        log_format="console",
    )
    live = running.start()
    try:
        with httpx.Client(base_url=live.base_url, timeout=60) as prod:
            for path in ("/docs", "/redoc", "/openapi.json"):
                response = prod.get(path)
                assert response.status_code == 404, path
                assert response.headers["strict-transport-security"].startswith("max-age=")
    finally:
        running.stop()


XXE_PAGE = b"""<?xml version="1.0"?>
<!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY lol "lol">]>
<html><head><title>Entities</title></head>
<body><p>The entity says &xxe; and &lol; here.</p></body></html>
"""


def test_xml_external_entity_is_not_expanded(client: httpx.Client) -> None:
    response = upload(client, [("entities.xhtml.html", XXE_PAGE, "application/xhtml+xml")])
    assert response.status_code == 200, response.text
    answer = client.post("/v1/chat", json={"question": "What does the entity say here?"}).json()
    shown = answer["answer"] + " ".join(c["snippet"] for c in answer["citations"])
    assert "root:" not in shown and "/bin/" not in shown
    text = extract(
        "e.html", XXE_PAGE, declared_type=None, max_bytes=10_000, max_pdf_pages=1
    ).text  # what ingestion stored: the entity reference was never resolved
    assert "The entity says" in text and "root:" not in text


def _watch(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_pages_work_under_their_csp(server: LiveServer, browser: Any) -> None:
    page = browser.new_page()
    errors = _watch(page)
    response = page.goto(server.base_url + "/")
    assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
    page.fill("#question", "How long does a request wait for a connection?")
    page.click("#send")
    page.wait_for_selector(".citations li", timeout=30_000)
    assert "thirty seconds" in page.inner_text(".answer")
    assert errors == []
    page.goto(server.base_url + "/ops")
    page.wait_for_timeout(500)
    assert errors == []
    # A script injected into the page at run time is refused by the CSP.
    ran = page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__injected = 1'; document.body.appendChild(s);"
        " return window.__injected === 1; }"
    )
    assert ran is False
    assert any("Content Security Policy" in e for e in errors)
    page.close()
