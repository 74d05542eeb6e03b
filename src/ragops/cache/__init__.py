"""Answer caches: exact and semantic lookups keyed on the collection's corpus version, so an
ingest or delete (which bumps the version) makes every older answer unreachable at once."""
