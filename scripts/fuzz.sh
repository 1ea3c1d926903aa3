#!/usr/bin/env bash
# Longer fuzz runs than the test suite's bounded ones.
#   bash scripts/fuzz.sh [MINUTES]                 property tests (hypothesis), default 10 minutes
#   bash scripts/fuzz.sh http|mysql|tls [SECONDS]   coverage-guided (atheris/libFuzzer), default 600 s
# Property tests run on real rig streams: HTTP and MySQL decoders under rechunking and damage, TCP
# reassembly under reordering, duplication and loss, the capture reader under damage, TLS handshakes
# and records under mutation; rounds of 300 examples with fresh seeds until the time is up, the first
# failure stops the run and hypothesis prints the smallest failing input.
# The atheris harnesses (in the test extras) start from real rig connections; their corpus and
# any crashing input stay in .fuzz/<decoder>/.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  http|mysql|tls)
    mkdir -p ".fuzz/$1"
    exec python3 -m "tests.fuzz.atheris_$1" -max_total_time="${2:-600}" \
      -artifact_prefix=".fuzz/$1-" ".fuzz/$1"
    ;;
esac
minutes=${1:-10}
end=$(( $(date +%s) + minutes * 60 ))
round=0
while [ "$(date +%s)" -lt "$end" ]; do
  round=$((round + 1))
  echo "round $round"
  HYPOTHESIS_PROFILE=fuzz python3 -m pytest -q -p no:warnings -p no:cacheprovider \
    tests/hardening/test_decoder_properties.py tests/hardening/test_reassembly_properties.py \
    tests/fuzz tests/protocols/tls/test_tls_damage.py
done
