#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (root): installs what the tests use (Debian packages below,
# Python packages into .venv by scripts/setup.sh), then runs pytest.
# Real traffic needs real tools: tcpdump, tshark/editcap, MariaDB and Chromium come from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v tcpdump >/dev/null || need_apt+=(tcpdump)
command -v tshark >/dev/null || need_apt+=(tshark)
command -v editcap >/dev/null || need_apt+=(wireshark-common)
command -v mariadbd >/dev/null || need_apt+=(mariadb-server)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v mergecap >/dev/null || need_apt+=(wireshark-common)
command -v haproxy >/dev/null || need_apt+=(haproxy)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "missing Debian packages (run as root to install): ${need_apt[*]}" >&2
  fi
fi

bash scripts/setup.sh test
exec "${GLANCETRACE_VENV:-.venv}/bin/python" -m pytest "$@"
