#!/bin/sh
# The main job, end to end, against the local Azure emulator with the real az:
# list what waits in every subscription, list the connections, plan a reject (dry run), reject, list again, re-run (a no-op),
# and see the lock-out guard refuse to cut the server off. Runs inside a network namespace
# with only loopback, so nothing can leave the machine.
set -eu
cd "$(dirname "$0")/.."

if [ "${AZPE_DEMO_IN_NETNS:-}" != 1 ]; then
    AZPE_DEMO_IN_NETNS=1 exec sh scripts/netns-run.sh sh scripts/demo.sh "$@"
fi

export PATH="$PWD/.venv/bin:$PATH"
export AZPE_AZ="$PWD/.venv-az/bin/az"
# Its own sandbox directory, made afresh (AZPE_DEMO_DIR: where, for the demo's own test).
export AZPE_SANDBOX_DIR="${AZPE_DEMO_DIR:-$PWD/.sandbox/demo}"
rm -rf "$AZPE_SANDBOX_DIR"
trap 'azpe sandbox stop >/dev/null 2>&1 || true' EXIT INT TERM

# Echo a command as a shell reads it back: each argument quoted where it needs it.
say() { printf '\n\033[1m$ %s\033[0m\n' "$1"; }
quoted() { "$PWD/.venv/bin/python" -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' "$@"; }
run() { say "$(quoted "$@")"; "$@"; }
run_allow_fail() { say "$(quoted "$@")"; "$@" || echo "(exit code $?)"; }

run azpe sandbox start
eval "$(azpe sandbox env)"

# The morning question: what waits for a decision, anywhere? (One subscription the login may
# not read: reported, and the others are listed; the exit code says so.)
run_allow_fail azpe server list --all-subscriptions -o table
run_allow_fail azpe list --all-subscriptions --status Pending -o table
RG=rg-data
SERVER=pg-orders
run azpe server show -g $RG -s $SERVER -o table
run azpe list -g $RG -s $SERVER -o table
WHY="Not an approved endpoint of ours; ask the DBA team"
# The plan: each write's exact az argv, one command line per target, as a shell reads it.
run azpe reject -g $RG -s $SERVER --status Pending -d "$WHY" --dry-run -o tsv --query '[].[command]'
run azpe reject -g $RG -s $SERVER --status Pending -d "$WHY" --yes -o table
run azpe list -g $RG -s $SERVER -o table
say "azpe list -g $RG -s $SERVER --status Rejected -o ids | azpe reject --id - -o table   # re-run: a no-op"
azpe list -g $RG -s $SERVER --status Rejected -o ids | azpe reject --id - -o table
APPROVED=$(azpe list -g $RG -s $SERVER --status Approved -o tsv --query '[].name')
run_allow_fail azpe reject -g $RG -s $SERVER -n "$APPROVED" -o table
run azpe sandbox stop
trap - EXIT INT TERM
