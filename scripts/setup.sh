#!/bin/sh
# Create the virtual environments the project needs; quick when they are already there.
#   scripts/setup.sh dev  - .venv: azpe (editable) with its sandbox extra, and the dev
#                           dependency group of pyproject.toml (pip >= 25.1: --group)
#   scripts/setup.sh az   - .venv-az: the pinned azure-cli the end-to-end tests drive
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
AZ_VERSION=$(cat scripts/azure-cli.version)

case "${1:-dev}" in
dev)
    stamp=.venv/.installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
        .venv/bin/python -m pip install -q --upgrade 'pip>=25.1'
        .venv/bin/python -m pip install -q -e '.[sandbox]' --group dev
        touch "$stamp"
    fi
    ;;
az)
    if ! .venv-az/bin/az version >/dev/null 2>&1 \
        || [ "$(.venv-az/bin/python -c 'import importlib.metadata as m; print(m.version("azure-cli"))')" != "$AZ_VERSION" ]; then
        [ -x .venv-az/bin/python ] || "$PYTHON" -m venv .venv-az
        echo "installing azure-cli==$AZ_VERSION into .venv-az (about a minute)" >&2
        .venv-az/bin/python -m pip install -q --upgrade pip
        .venv-az/bin/python -m pip install -q "azure-cli==$AZ_VERSION"
    fi
    ;;
*)
    echo "usage: $0 dev|az" >&2
    exit 2
    ;;
esac
