#!/bin/sh
# Lint, format check and strict type check.
set -eu
cd "$(dirname "$0")/.."
.venv/bin/ruff check azpe tests scripts
.venv/bin/ruff format --check azpe tests scripts
.venv/bin/mypy
