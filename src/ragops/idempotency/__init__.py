"""`Idempotency-Key` on POST routes: a retried request returns the first result."""
