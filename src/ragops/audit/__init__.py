"""The security audit (spec Task 4.6): bandit, pip-audit, detect-secrets, settings, TLS, OWASP.

`ragops.audit.cli.audit_app` is the `ragops audit` command; each check lives in its own module
and returns a `CheckResult` of `Finding`s (see `findings`).
"""
