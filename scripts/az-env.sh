#!/bin/sh
# Run a command with az pointed at a running `azpe sandbox` (without needing azpe on PATH):
#   scripts/az-env.sh [--dir DIR] CMD [ARGS...]      e.g. scripts/az-env.sh az account show
# DIR defaults to $AZPE_SANDBOX_DIR or ./.sandbox, as for `azpe sandbox`.
set -eu

dir=${AZPE_SANDBOX_DIR:-.sandbox}
if [ "${1:-}" = "--dir" ]; then
    dir=$2
    shift 2
fi
if [ "$#" -eq 0 ]; then
    echo "usage: $0 [--dir DIR] CMD [ARGS...]" >&2
    exit 2
fi
if [ ! -f "$dir/server.json" ] || [ ! -d "$dir/azure" ]; then
    echo "az-env: no sandbox running in $dir (start one with: azpe sandbox start)" >&2
    exit 1
fi
dir=$(cd "$dir" && pwd)
AZURE_CONFIG_DIR="$dir/azure" \
REQUESTS_CA_BUNDLE="$dir/ca.pem" \
AZURE_CORE_INSTANCE_DISCOVERY=false \
AZURE_CORE_COLLECT_TELEMETRY=false \
AZURE_CORE_NO_COLOR=true \
    exec "$@"
