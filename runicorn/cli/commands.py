"""Registers every command module on the root group (imported by ``runicorn.cli``)."""

from . import maintenance_commands, retention_commands, run_commands, setup_commands, transfer_commands  # noqa: F401
