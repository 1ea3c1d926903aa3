#!/usr/bin/env bash
# Install glancetrace into .venv, a virtual environment of its own: Debian 12 and Ubuntu 24.04 refuse
# `pip install` into their python3 (PEP 668), and a venv keeps the tool's libraries apart from the system's.
#   bash scripts/setup.sh          # the tool
#   bash scripts/setup.sh test     # the tool and what the tests use (extras: test, dask, fuzz)
# Python 3.11 or newer and python3-venv come from Debian's packages when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${GLANCETRACE_VENV:-.venv}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "glancetrace setup: missing $*; install them with: sudo apt-get install $*" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v python3 >/dev/null || apt_install python3
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "glancetrace setup: needs Python 3.11 or newer, found $(python3 --version 2>&1)" >&2; exit 1; }
if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  rm -rf "$venv"  # none yet, or one cut short before pip was in it
  # Debian ships venv's pip bootstrap (ensurepip) in python3-venv, not with python3 itself
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    apt_install python3-venv
    python3 -m venv "$venv"
  fi
fi
spec=.
[ $# -gt 0 ] && spec=".[$(IFS=,; echo "$*")]"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
