"""The one typed settings object; the only place that reads the environment."""

from ragops.config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
