#!/bin/sh
# Lint, format check and strict type check (mypy --strict on azpe/ and tests/: pyproject.toml).
set -eu
cd "$(dirname "$0")/.."
.venv/bin/ruff check azpe tests scripts
.venv/bin/ruff format --check azpe tests scripts
.venv/bin/mypy
