"""`ragops audit tls HOST:PORT`: what `openssl s_client` shows, checked instead of eyeballed.

Four handshakes, each answering one question: what the server negotiates and which
certificate it sends (no verification); whether that certificate chains to the system store
or `--ca-file`; whether its names cover the host (checked here from the subjectAltName, as
browsers do: the common name is not used); and whether the server still accepts TLS 1.0/1.1.
The certificate is read with `cryptography` for its dates, key size and signature hash.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ragops.audit.findings import AuditError, CheckResult, Finding, Severity

CHECK = "tls"
_CLIENT_SIDE_REASONS = {"NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "UNSUPPORTED_PROTOCOL"}


@dataclass(frozen=True)
class Endpoint:
    """Where to connect, and the name the certificate must cover."""

    host: str
    port: int
    server_name: str

    @property
    def label(self) -> str:
        """HOST:PORT as given."""
        return f"{self.host}:{self.port}"


def parse_target(target: str, server_name: str | None = None) -> Endpoint:
    """`HOST:PORT` (or `[v6]:PORT`) into an endpoint; AuditError when malformed."""
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AuditError(f"TLS target {target!r} is not HOST:PORT")
    host = host.strip("[]")
    return Endpoint(host, int(port), server_name or host)


def _handshake(endpoint: Endpoint, context: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    sock = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    try:
        sni = None if _is_ip(endpoint.server_name) else endpoint.server_name
        return context.wrap_socket(sock, server_hostname=sni)
    except BaseException:
        sock.close()
        raise


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _unverified_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # reads the certificate; trusts nothing
    return context


def names_cover(cert: x509.Certificate, name: str) -> bool:
    """True when the subjectAltName of `cert` covers `name` (DNS with one-label wildcard, IP)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    if _is_ip(name):
        wanted = ipaddress.ip_address(name)
        return any(ip == wanted for ip in san.get_values_for_type(x509.IPAddress))
    labels = name.lower().rstrip(".").split(".")
    for pattern in san.get_values_for_type(x509.DNSName):
        parts = pattern.lower().rstrip(".").split(".")
        if len(parts) != len(labels):
            continue
        if parts == labels or (parts[0] == "*" and len(parts) > 2 and parts[1:] == labels[1:]):
            return True
    return False


def certificate_findings(
    cert: x509.Certificate, endpoint: Endpoint, *, now: dt.datetime, warn_days: int
) -> list[Finding]:
    """Findings about the certificate itself: dates, names, key and signature."""
    where = endpoint.label
    findings: list[Finding] = []
    left = cert.not_valid_after_utc - now
    if left.total_seconds() <= 0:
        findings.append(
            Finding.make(
                CHECK,
                Severity.CRITICAL,
                "Certificate expired",
                f"The certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC.",
                where,
            )
        )
    elif left.days < warn_days:
        findings.append(
            Finding.make(
                CHECK,
                Severity.HIGH if left.days < 7 else Severity.MEDIUM,
                "Certificate expires soon",
                f"{left.days} days left (expires {cert.not_valid_after_utc:%Y-%m-%d} UTC); "
                f"renew before {warn_days} days remain.",
                where,
            )
        )
    if cert.not_valid_before_utc > now:
        findings.append(
            Finding.make(
                CHECK,
                Severity.HIGH,
                "Certificate not yet valid",
                f"Valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.",
                where,
            )
        )
    if not names_cover(cert, endpoint.server_name):
        findings.append(
            Finding.make(
                CHECK,
                Severity.HIGH,
                "Certificate does not match the host name",
                f"No subjectAltName of the certificate covers {endpoint.server_name!r}.",
                where,
            )
        )
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        findings.append(
            Finding.make(
                CHECK, Severity.HIGH, "Weak RSA key", f"{key.key_size}-bit RSA key.", where
            )
        )
    digest = cert.signature_hash_algorithm
    if digest is not None and digest.name in {"md5", "sha1"}:
        findings.append(
            Finding.make(
                CHECK, Severity.HIGH, "Weak signature", f"Signed with {digest.name}.", where
            )
        )
    return findings


def chain_finding(endpoint: Endpoint, ca_file: Path | None, timeout: float) -> Finding | None:
    """A finding when the chain does not verify against the system store or `ca_file`."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.check_hostname = False  # names are checked on their own, from the certificate
    store = f"CA file {ca_file.name}" if ca_file else "the system trust store"
    try:
        _handshake(endpoint, context, timeout).close()
    except ssl.SSLCertVerificationError as exc:
        return Finding.make(
            CHECK,
            Severity.HIGH,
            "Certificate chain not trusted",
            f"Verification against {store} failed: {exc.verify_message} (code {exc.verify_code}).",
            endpoint.label,
        )
    return None


def legacy_protocol_finding(endpoint: Endpoint, timeout: float) -> Finding | None:
    """A finding when the server completes a handshake capped at TLS 1.1."""
    if not (ssl.HAS_TLSv1 or ssl.HAS_TLSv1_1):
        return Finding.not_audited(
            CHECK,
            "Legacy TLS not tested",
            "This Python's OpenSSL cannot offer TLS 1.0/1.1, so refusal proves nothing.",
            endpoint.label,
        )
    context = _unverified_context()
    with warnings.catch_warnings():  # offering the deprecated versions is the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with _handshake(endpoint, context, timeout) as sock:
            accepted = sock.version()
    except ssl.SSLError as exc:
        if exc.reason in _CLIENT_SIDE_REASONS:
            return Finding.not_audited(
                CHECK,
                "Legacy TLS not tested",
                f"The client could not offer TLS 1.0/1.1 ({exc.reason}).",
                endpoint.label,
            )
        return None
    except OSError:
        return None  # the server hung up on the legacy handshake: refused
    return Finding.make(
        CHECK,
        Severity.HIGH,
        "Server accepts legacy TLS",
        f"A handshake capped at TLS 1.1 succeeded with {accepted}; require TLS 1.2 or newer.",
        endpoint.label,
    )


def audit_tls(
    target: str,
    *,
    ca_file: Path | None = None,
    server_name: str | None = None,
    timeout: float = 10.0,
    warn_days: int = 30,
) -> CheckResult:
    """Connect to `target` and check its certificate, chain, names and protocol floor."""
    endpoint = parse_target(target, server_name)
    if ca_file is not None and not ca_file.is_file():
        raise AuditError(f"CA file {ca_file} does not exist")
    try:
        with _handshake(endpoint, _unverified_context(), timeout) as sock:
            version, (cipher, _, bits) = sock.version(), sock.cipher() or ("?", "", 0)
            der = sock.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        finding = Finding.not_audited(
            CHECK, "TLS endpoint not audited", f"No TLS handshake with {target}: {exc}", target
        )
        return CheckResult(CHECK, f"TLS {target} NOT audited: no handshake", [finding])
    if not der:
        raise AuditError(f"{target} sent no certificate")
    cert = x509.load_der_x509_certificate(der)
    now = dt.datetime.now(dt.UTC)
    findings = certificate_findings(cert, endpoint, now=now, warn_days=warn_days)
    for extra in (
        chain_finding(endpoint, ca_file, timeout),
        legacy_protocol_finding(endpoint, timeout),
    ):
        if extra is not None:
            findings.append(extra)
    days = (cert.not_valid_after_utc - now).days
    summary = (
        f"{target}: {version} with {cipher} ({bits} bits); certificate for "
        f"{cert.subject.rfc4514_string()} from {cert.issuer.rfc4514_string()}, "
        f"{days} days to expiry"
    )
    return CheckResult(CHECK, summary, findings)
