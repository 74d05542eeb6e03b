"""API keys, scopes, tenant resolution and the audit trail."""
