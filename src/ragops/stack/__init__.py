"""The local multi-instance stack: N ragops instances under supervisord behind nginx
(deploy/local/), started and stopped by `ragops stack up` / `ragops stack down`."""
