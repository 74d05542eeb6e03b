"""Operations: health, readiness, version and the operator-facing endpoints."""
