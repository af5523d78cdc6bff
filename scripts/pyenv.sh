#!/usr/bin/env bash
# Makes, or reuses, the Python virtual environment of the tests that run Python (tests/tensorboard_reader.py):
# .pyenv/ at the top of the source tree (git-ignored), holding the pinned packages below. The venv is made from
# Debian's python3 (scripts/install-deps.sh installs python3-venv) and filled with pip; with no network to the
# package index this fails, naming what it could not install, rather than skipping.
# Usage: scripts/pyenv.sh [COMMAND [ARGS...]]
#   without a command: prints the venv's folder; with one: runs it with the venv's bin/ first on PATH.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${GRAMGAN_PYENV:-$root/.pyenv}"
# One line per package, pinned: the stamp below compares this list, so changing it rebuilds the venv.
requirements="tensorboard==2.21.0"

python=/usr/bin/python3
[ -x "$python" ] || python="$(command -v python3 || true)"
if [ -z "$python" ]; then
  echo "pyenv: python3 not found; run scripts/install-deps.sh" >&2
  exit 1
fi

mkdir -p "$(dirname "$venv")"
# Two test runs (or two build folders) may ask at once: one builds, the other waits and reuses.
exec 9>"$venv.lock"
flock 9
stamp="$venv/.gramgan-requirements"
if ! { [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirements" ]; }; then
  echo "pyenv: making $venv ($requirements)" >&2
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >&2; then
    echo "pyenv: $python -m venv failed; install python3-venv (scripts/install-deps.sh)" >&2
    exit 1
  fi
  # shellcheck disable=SC2086  # one package per word
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q $requirements >&2; then
    rm -rf "$venv"
    echo "pyenv: pip could not install $requirements (is the Python package index reachable?)" >&2
    exit 1
  fi
  printf '%s' "$requirements" >"$stamp"
fi
exec 9>&-

if [ $# -eq 0 ]; then
  echo "$venv"
else
  PATH="$venv/bin:$PATH" exec "$@"
fi
