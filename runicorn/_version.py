"""The package version, in a module of its own so that every layer can name it without importing the package top."""

__version__ = "1.0.0.dev0"
