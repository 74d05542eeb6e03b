"""`python -m ragops.audit`: the audit command without the rest of the ragops CLI."""

from ragops.audit.cli import audit_app

audit_app(prog_name="ragops audit")
