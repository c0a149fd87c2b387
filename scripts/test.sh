#!/bin/sh
# Run the tests.
#   scripts/test.sh unit  - unit and CLI tests (az faked with pytest-subprocess); run whole
#                           (no arguments), it measures branch coverage of azpe/ and fails
#                           under the floor in pyproject.toml ([tool.coverage.report])
#   scripts/test.sh e2e   - the real az against the local emulator, inside a network
#                           namespace that has only loopback (scripts/netns-run.sh)
#   scripts/test.sh all   - both
# Further arguments go to pytest (a part of the suite: no coverage gate, which is for the whole).
set -eu
cd "$(dirname "$0")/.."
export AZPE_TEST_AZ="${AZPE_TEST_AZ:-$PWD/.venv-az/bin/az}"
what=${1:-all}
shift || true

# pyproject.toml sets a 120-s timeout per test (no unit test comes near it). An e2e test
# runs the real az, whose writes take about 11 s each, on workers sharing two cores: 600 s.
E2E_TIMEOUT=${E2E_TIMEOUT:-600}

if [ "$what" = unit ] || [ "$what" = all ]; then
    if [ "$#" -eq 0 ]; then
        rm -f .coverage .coverage.*
        .venv/bin/pytest -m "not e2e" -q --cov --cov-report=term
    else
        .venv/bin/pytest -m "not e2e" -q "$@"
    fi
fi
if [ "$what" = e2e ] || [ "$what" = all ]; then
    # Each worker runs its own emulator; az's reject sleeps 10 s, so workers mostly wait.
    sh scripts/netns-run.sh .venv/bin/pytest -m e2e -q -n "${E2E_WORKERS:-6}" \
        --timeout="$E2E_TIMEOUT" "$@"
fi
