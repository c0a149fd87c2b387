#!/bin/sh
# What a user gets (make package). From a copy of the sources as a clone would hold them (plus
# uncommitted work, minus what .gitignore leaves out), build the sdist and from it the wheel;
# check that the wheel holds azpe/ with its license and entry point and no tests; then install
# it three ways - the wheel with pip, `pip install .` and `pipx install .` - each into a fresh
# environment without the sandbox extra, and check that `azpe --version` works and that
# `azpe sandbox start` says in one line how to get the sandbox (exit 2).
# Needs .venv (scripts/setup.sh dev: it has `build`) and git; reaches the package index.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/azpe-package.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

fail() {
    echo "check-package: $*" >&2
    exit 1
}

echo "== sources"
src=$work/src
mkdir "$src"
# Tracked and untracked files that .gitignore keeps, leaving out those deleted in the tree.
git ls-files -z --cached --others --exclude-standard \
    | "$PYTHON" -c 'import os, sys; sys.stdout.write("".join(p + "\0" for p in sys.stdin.read().split("\0") if p and os.path.isfile(p)))' \
    | tar --null -T - -cf - | tar -xf - -C "$src"
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$src/azpe/__init__.py")
[ -n "$version" ] || fail "no __version__ in azpe/__init__.py"

echo "== build (sdist, then the wheel from the sdist)"
.venv/bin/python -m build --outdir "$work/dist" "$src" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; fail "the build failed"; }
wheel=$(ls "$work/dist"/azpe-"$version"-py3-none-any.whl)
sdist=$(ls "$work/dist"/azpe-"$version".tar.gz)
ls -l "$sdist" "$wheel" | sed "s|$work/dist/||"

echo "== wheel contents"
.venv/bin/python - "$wheel" "$version" <<'EOF'
import sys
import zipfile

wheel, version = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
for name in names:
    print("  " + name)
meta = f"azpe-{version}.dist-info"
problems = [f"{n}: tests do not belong in the wheel" for n in names if n.split("/")[0] in ("tests", "test")]
problems += [f"{n}: only azpe/ and its dist-info belong in the wheel" for n in names
             if n.split("/")[0] not in ("azpe", meta)]
needed = ["azpe/__init__.py", "azpe/__main__.py", "azpe/cli/app.py", "azpe/sandbox/emulator.py",
          f"{meta}/METADATA", f"{meta}/entry_points.txt", f"{meta}/licenses/LICENSE"]
problems += [f"{n}: missing" for n in needed if n not in names]
if f"{meta}/METADATA" in names:
    metadata = zipfile.ZipFile(wheel).read(f"{meta}/METADATA").decode()
    for line in ("License-Expression: MIT", "License-File: LICENSE", "Provides-Extra: sandbox"):
        if line not in metadata.splitlines():
            problems.append(f"METADATA: no '{line}'")
    if "Requires-Dist: trustme" in metadata and "extra == \"sandbox\"" not in metadata:
        problems.append("METADATA: trustme is required without the sandbox extra")
if f"{meta}/entry_points.txt" in names:
    entry_points = zipfile.ZipFile(wheel).read(f"{meta}/entry_points.txt").decode()
    if "azpe = azpe.cli:main" not in entry_points:
        problems.append("entry_points.txt: no 'azpe = azpe.cli:main'")
for problem in problems:
    print("check-package: " + problem, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

# check_azpe HOW AZPE PYTHON: the installed azpe runs, and without the extra says how to get it.
check_azpe() {
    how=$1 azpe=$2 python=$3
    "$python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("trustme") is not None)' \
        || fail "$how: trustme is installed without the sandbox extra"
    out=$(cd "$work" && "$azpe" --version) || fail "$how: azpe --version failed"
    [ "$out" = "azpe $version" ] || fail "$how: azpe --version printed '$out', not 'azpe $version'"
    code=0
    (cd "$work" && "$azpe" sandbox start >"$work/out" 2>"$work/err") || code=$?
    [ "$code" -eq 2 ] || fail "$how: azpe sandbox start exited $code, not 2: $(cat "$work/err")"
    [ ! -s "$work/out" ] || fail "$how: azpe sandbox start wrote to stdout: $(cat "$work/out")"
    [ "$(wc -l <"$work/err")" -eq 1 ] || fail "$how: azpe sandbox start: not one line: $(cat "$work/err")"
    grep -qF "pip install 'azpe[sandbox]'" "$work/err" \
        || fail "$how: azpe sandbox start does not say how to get the sandbox: $(cat "$work/err")"
    [ ! -e "$work/.sandbox" ] || fail "$how: azpe sandbox start made a sandbox directory"
    echo "$how: '$out'; azpe sandbox start: exit 2, $(cat "$work/err")"
}

echo "== pip install the wheel"
"$PYTHON" -m venv "$work/wheel-venv"
"$work/wheel-venv/bin/python" -m pip install -q "$wheel"
check_azpe "pip install azpe-$version-py3-none-any.whl" "$work/wheel-venv/bin/azpe" "$work/wheel-venv/bin/python"

echo "== pip install ."
"$PYTHON" -m venv "$work/pip-venv"
(cd "$src" && "$work/pip-venv/bin/python" -m pip install -q .)
check_azpe "pip install ." "$work/pip-venv/bin/azpe" "$work/pip-venv/bin/python"

echo "== pipx install ."
"$PYTHON" -m venv "$work/pipx-tool"
"$work/pipx-tool/bin/python" -m pip install -q pipx
export PIPX_HOME="$work/pipx" PIPX_BIN_DIR="$work/pipx-bin" PIPX_MAN_DIR="$work/pipx-man"
(cd "$src" && "$work/pipx-tool/bin/pipx" install --quiet . >/dev/null)
check_azpe "pipx install ." "$PIPX_BIN_DIR/azpe" "$PIPX_HOME/venvs/azpe/bin/python"

echo "check-package: ok (azpe $version: sdist, wheel, pip, pip install ., pipx install .)"
