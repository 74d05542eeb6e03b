"""`ragops audit tls`: a real TLS server on loopback, with certificates made for each case."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragops.audit.cli import audit_app
from ragops.audit.findings import Severity, Status
from ragops.audit.tls import audit_tls, parse_target
from tests.audit.certs import DAY, NOW, Authority
from tests.audit.tls_server import TLSServer

runner = CliRunner()


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


def _titles(target: str, ca: Authority, **kwargs: object) -> dict[str, Severity]:
    result = audit_tls(target, ca_file=ca.ca_file, **kwargs)  # type: ignore[arg-type]
    return {f.title: f.severity for f in result.findings}


def test_good_server_passes(ca: Authority) -> None:
    with TLSServer(ca.issue("good")) as server:
        result = audit_tls(server.target, ca_file=ca.ca_file)
        named = audit_tls(server.target, ca_file=ca.ca_file, server_name="localhost")
    assert result.findings == [] and named.findings == []
    assert "TLSv1.3" in result.summary and "89 days to expiry" in result.summary


def test_expired_certificate_is_critical(ca: Authority) -> None:
    expired = ca.issue("expired", not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    with TLSServer(expired) as server:
        found = _titles(server.target, ca)
    assert found["Certificate expired"] is Severity.CRITICAL
    assert found["Certificate chain not trusted"] is Severity.HIGH  # OpenSSL refuses it too


def test_certificate_expiring_soon(ca: Authority) -> None:
    with TLSServer(ca.issue("soon", not_after=NOW + 10 * DAY)) as server:
        assert _titles(server.target, ca) == {"Certificate expires soon": Severity.MEDIUM}
        assert _titles(server.target, ca, warn_days=5) == {}


def test_wrong_host_name(ca: Authority) -> None:
    with TLSServer(ca.issue("other", ("api.example.com", "*.example.com"))) as server:
        assert _titles(server.target, ca) == {
            "Certificate does not match the host name": Severity.HIGH
        }
        assert _titles(server.target, ca, server_name="chat.example.com") == {}
        assert "Certificate does not match the host name" in _titles(
            server.target, ca, server_name="a.b.example.com"
        )


def test_self_signed_certificate_is_not_trusted(ca: Authority) -> None:
    with TLSServer(ca.issue("self", self_signed=True)) as server:
        result = audit_tls(server.target, ca_file=ca.ca_file)
    [finding] = result.findings
    assert finding.title == "Certificate chain not trusted"
    assert "self-signed" in finding.detail or "self signed" in finding.detail


def test_legacy_protocol_is_a_finding(ca: Authority) -> None:
    with TLSServer(ca.issue("legacy"), minimum=ssl.TLSVersion.TLSv1) as server:
        found = audit_tls(server.target, ca_file=ca.ca_file).findings
    [finding] = found
    if finding.status is Status.NOT_AUDITED:  # this OpenSSL cannot speak TLS 1.0/1.1 at all
        pytest.skip(finding.detail)
    assert finding.title == "Server accepts legacy TLS" and finding.severity is Severity.HIGH


def test_unreachable_endpoint_is_not_audited(closed_port: int) -> None:
    [finding] = audit_tls(f"127.0.0.1:{closed_port}", timeout=2).findings
    assert finding.status is Status.NOT_AUDITED


def test_target_parsing() -> None:
    assert parse_target("[::1]:8443").host == "::1"
    assert parse_target("example.com:443", "www.example.com").server_name == "www.example.com"


def test_cli_exit_codes(ca: Authority, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with TLSServer(ca.issue("good")) as server:
        args = ["tls", server.target, "--ca-file", str(ca.ca_file), "-o", str(out)]
        assert runner.invoke(audit_app, args).exit_code == 0
    with TLSServer(ca.issue("old", not_after=NOW - DAY, not_before=NOW - 9 * DAY)) as server:
        result = runner.invoke(
            audit_app, ["tls", server.target, "--ca-file", str(ca.ca_file), "-o", str(out)]
        )
    assert result.exit_code == 1, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["critical"] == 1
    assert runner.invoke(audit_app, ["tls", "no-port", "-o", str(out)]).exit_code == 2
