"""The vocabulary every audit check speaks: severities, statuses, findings and check results.

A check never says "pass": it returns the findings it made and a one-line summary of what it
looked at. A check that could not look at something (a service out of reach, a blob too big
to read) returns a finding with status `not_audited`; the runner gives those a configurable
severity, so an audit that did not happen can never read as an audit that found nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a finding is, in increasing order."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for low up to 3 for critical."""
        return list(Severity).index(self)


class Status(StrEnum):
    """Whether a finding is something found, or something the check could not examine."""

    FINDING = "finding"
    NOT_AUDITED = "not_audited"


class AuditError(Exception):
    """A check cannot run as asked (a missing path, a broken tool); the command exits 2."""


def finding_id(check: str, *parts: str) -> str:
    """A stable id for a finding: the check name and a short hash of what identifies it."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:10]
    return f"{check}-{digest}"


@dataclass(frozen=True)
class Finding:
    """One thing an auditor must look at."""

    id: str
    check: str
    severity: Severity
    title: str
    detail: str
    location: str
    status: Status = Status.FINDING

    @classmethod
    def make(
        cls,
        check: str,
        severity: Severity,
        title: str,
        detail: str,
        location: str,
        *,
        status: Status = Status.FINDING,
        key: str = "",
    ) -> Finding:
        """Build a finding whose id derives from the check, title, location and `key`."""
        return cls(
            id=finding_id(check, title, location, key),
            check=check,
            severity=severity,
            title=title,
            detail=detail,
            location=location,
            status=status,
        )

    @classmethod
    def not_audited(cls, check: str, title: str, reason: str, location: str) -> Finding:
        """A finding that says the check could not audit `location`, and why."""
        return cls.make(check, Severity.HIGH, title, reason, location, status=Status.NOT_AUDITED)

    def as_dict(self) -> dict[str, Any]:
        """The finding as plain JSON-ready values."""
        data = asdict(self)
        data["severity"] = self.severity.value
        data["status"] = self.status.value
        return data


@dataclass
class CheckResult:
    """What one check looked at (`summary`), what it found, and files it wrote."""

    check: str
    summary: str
    findings: list[Finding] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)

    def with_not_audited_severity(self, severity: Severity) -> CheckResult:
        """A copy in which every not-audited finding carries `severity`."""
        findings = [
            replace(f, severity=severity) if f.status is Status.NOT_AUDITED else f
            for f in self.findings
        ]
        return CheckResult(self.check, self.summary, findings, list(self.artifacts))
