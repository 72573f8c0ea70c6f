"""The ``runicorn`` command line: a click group whose commands are thin wrappers over the SDK and store."""

from .main import cli, main

__all__ = ["cli", "main"]
