"""Releases: building a release from git, and the rollback drill."""
