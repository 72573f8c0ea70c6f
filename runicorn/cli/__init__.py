"""The ``runicorn`` command line: thin click commands over the read API, the store and maintenance."""

from . import commands  # noqa: F401  (registers every command on the group)
from .main import cli, main

__all__ = ["cli", "main"]
