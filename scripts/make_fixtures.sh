#!/usr/bin/env bash
# Remake the real OpenStack fixtures in tests/fixtures/rig/ (and the sample in captures/) with the rig in
# ../shared/rig: Keystone + Glance + MariaDB behind haproxy TLS on loopback, recorded with tcpdump.
# Takes several minutes (the rig installs Keystone and Glance into /tmp/rigvenv the first time).
#   bash scripts/make_fixtures.sh [scenario ...]     # default: every scenario
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-$here/../shared/rig}
out=$(mktemp -d /tmp/glancetrace-rig.XXXXXX)
RIG_SCALE=${RIG_SCALE:-0.1} OUTDIR=$out bash "$rig/make_captures.sh" setup
RIG_SCALE=${RIG_SCALE:-0.1} OUTDIR=$out bash "$rig/make_captures.sh" scenarios "${@:-all}"
for truth in "$out"/*.truth.json; do
  name=$(basename "$truth" .truth.json)
  dest=$here/tests/fixtures/rig/$name
  mkdir -p "$dest"
  cp "$out/$name.pcap" "$dest/capture.pcap"
  cp "$truth" "$dest/truth.json"
  [ -f "$out/$name.keys" ] && cp "$out/$name.keys" "$dest/capture.keys"
  gzip -9c "$out/$name.mysql-general.tsv" > "$dest/mysql-general.tsv.gz"
  gzip -9c "$out/$name.client-debug.log" > "$dest/client-debug.log.gz"
done
# Glance's Swift store (tests/openstack/test_swift.py): written by the bench generator, 1 MiB
python3 "$here/../shared/bench/make_capture.py" --size 1M --seed 3 --images 4 --swift \
  --out "$here/tests/fixtures/swift/capture.pcap"
# the sample the README's first command reports on
[ -f "$here/tests/fixtures/rig/failures/capture.pcap" ] && cp "$here/tests/fixtures/rig/failures/capture.pcap" "$here/captures/sample-failures.pcap"
bash "$rig/make_captures.sh" stop
echo "fixtures in $here/tests/fixtures/rig; raw rig output in $out"
