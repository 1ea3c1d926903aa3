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
playwright_browser=
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    # Ubuntu ships Chromium as a snap only (its chromium-browser deb is a stub): there Playwright brings its own
    if [[ " ${need_apt[*]} " == *" chromium "* ]] && ! LC_ALL=C apt-cache policy chromium | grep -q "Candidate: [^(]"; then
      keep=(); for pkg in "${need_apt[@]}"; do [ "$pkg" = chromium ] || keep+=("$pkg"); done
      need_apt=("${keep[@]}" libatomic1)  # Playwright's own node driver needs it
      playwright_browser=1
    fi
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    [ ${#need_apt[@]} -eq 0 ] ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "missing Debian packages (run as root to install): ${need_apt[*]}" >&2
  fi
fi

bash scripts/setup.sh test
if [ -n "$playwright_browser" ]; then
  "${GLANCETRACE_VENV:-.venv}/bin/python" -m playwright install --with-deps chromium ||
    echo "glancetrace tests: no Chromium for the browser tests (apt has none and Playwright's download failed)" >&2
fi
exec "${GLANCETRACE_VENV:-.venv}/bin/python" -m pytest "$@"
