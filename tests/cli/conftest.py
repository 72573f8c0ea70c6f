"""Fixtures for the CLI tests: sample runs made through the real SDK, and ``invoke`` around CliRunner.

The sample runs are built once per session (the SDK fsyncs, which costs) and
copied into each test's own storage root, so every test may damage its copy.
"""

from cli_fixtures import invoke, sample_template, samples, storage_root, target_template  # noqa: F401
