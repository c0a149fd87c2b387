#!/bin/sh
# Run the tests.
#   scripts/test.sh unit  - unit and CLI tests (az faked with pytest-subprocess): seconds
#   scripts/test.sh e2e   - the real az against the local emulator, inside a network
#                           namespace that has only loopback (scripts/netns-run.sh)
#   scripts/test.sh all   - both
set -eu
cd "$(dirname "$0")/.."
export AZPE_TEST_AZ="${AZPE_TEST_AZ:-$PWD/.venv-az/bin/az}"
what=${1:-all}
shift || true

if [ "$what" = unit ] || [ "$what" = all ]; then
    .venv/bin/pytest -m "not e2e" -q "$@"
fi
if [ "$what" = e2e ] || [ "$what" = all ]; then
    # Each worker runs its own emulator; az's reject sleeps 10 s, so workers mostly wait.
    sh scripts/netns-run.sh .venv/bin/pytest -m e2e -q -n "${E2E_WORKERS:-6}" "$@"
fi
