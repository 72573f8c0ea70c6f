"""The SDK: ``Run`` and what it writes. Public names are re-exported by ``runicorn``."""
