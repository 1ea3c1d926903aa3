#!/usr/bin/env bash
# A longer fuzz run of the decoders than the test suite's bounded one.
#   bash scripts/fuzz.sh [MINUTES]      (default 10)
# Property tests (hypothesis) on real rig streams: HTTP and MySQL decoders under rechunking and damage,
# TCP reassembly under reordering, duplication and loss, TLS handshakes and records under mutation.
# Repeats rounds of 300 examples per property with fresh random seeds until the time is up; the first
# failure stops the run and hypothesis prints the smallest failing input.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
end=$(( $(date +%s) + minutes * 60 ))
round=0
while [ "$(date +%s)" -lt "$end" ]; do
  round=$((round + 1))
  echo "round $round"
  HYPOTHESIS_PROFILE=fuzz python3 -m pytest -q -p no:warnings -p no:cacheprovider \
    tests/hardening/test_decoder_properties.py tests/hardening/test_reassembly_properties.py \
    tests/protocols/tls/test_tls_damage.py
done
