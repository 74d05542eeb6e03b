"""HTTP hardening: CORS, security headers, rate limits, trusted proxies, content safety."""
