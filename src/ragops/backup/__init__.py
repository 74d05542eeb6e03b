"""Backups of a ragops instance: create, verify, restore, prune and the backup drill."""
