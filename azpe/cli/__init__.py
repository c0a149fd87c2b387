"""The ``azpe`` command: options, prompts, rendering, and the one place errors become exit codes
(``app.handle_errors``). Importing the command modules registers them on the app."""

from azpe.cli import audit_cmd, enforce_cmd, read, write
from azpe.cli.app import app, main

__all__ = ["app", "audit_cmd", "enforce_cmd", "main", "read", "write"]
