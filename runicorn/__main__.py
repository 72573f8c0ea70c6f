"""``python -m runicorn``: the same program as the ``runicorn`` command."""

from .cli import main

main()
