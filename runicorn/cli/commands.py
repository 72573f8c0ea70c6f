"""Registers every command module on the root group (imported by ``runicorn.cli``)."""

from . import (  # noqa: F401
    maintenance_commands,
    retention_commands,
    run_commands,
    setup_commands,
    timeline_commands,
    transfer_commands,
    viewer_command,
)
