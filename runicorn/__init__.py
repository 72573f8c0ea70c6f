"""Runicorn: local-first experiment tracking with a content-addressed artifact store."""

__version__ = "1.0.0.dev0"
