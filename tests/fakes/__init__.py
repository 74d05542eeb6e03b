"""Test doubles that speak real protocols over loopback (e.g. a fake OpenAI-compatible API)."""
