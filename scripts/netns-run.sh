#!/bin/sh
# Run a command in a fresh network namespace whose only interface is loopback, so that
# whatever it starts (the real az above all) can reach nothing but 127.0.0.1.
#   scripts/netns-run.sh CMD [ARGS...]
# Needs unshare(1) and ip(8), and the right to create namespaces (root, or unprivileged
# user namespaces: then it maps the caller to root inside with --map-root-user).
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
for tool in unshare ip; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "netns-run: '$tool' not found (install util-linux / iproute2)" >&2
        exit 1
    fi
done

inner='ip link set lo up && exec "$@"'
if unshare --net true 2>/dev/null; then
    exec unshare --net sh -c "$inner" sh "$@"
elif unshare --user --map-root-user --net true 2>/dev/null; then
    exec unshare --user --map-root-user --net sh -c "$inner" sh "$@"
fi
echo "netns-run: cannot create a network namespace here (unshare --net is not permitted;" \
    "run as root, or enable unprivileged user namespaces)" >&2
exit 1
