#!/usr/bin/env bash
# Remake tests/fixtures/rig-causes/: failures whose cause the report names (scripts/rig_causes.py), each with
# its logs gzip'd beside the capture. Run under the rig lock (the rig has fixed ports and state in /tmp/rig):
#   flock /tmp/rig.lock bash scripts/make_cause_fixtures.sh [scenario ...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-$here/../shared/rig}
out=${OUT:-$(mktemp -d /tmp/glancetrace-causes.XXXXXX)}
export RIG_SCALE=${RIG_SCALE:-0.1} OUTDIR=$out RIG=$rig
[ -n "${SKIP_SETUP:-}" ] || bash "$rig/make_captures.sh" setup
status=0
/tmp/rigvenv/bin/python "$here/scripts/rig_causes.py" "$@" || status=$?
for truth in "$out"/*.truth.json; do
  [ -f "$truth" ] || continue
  name=$(basename "$truth" .truth.json)
  dest=$here/tests/fixtures/rig-causes/$name
  mkdir -p "$dest"
  cp "$out/$name.pcap" "$dest/capture.pcap"
  cp "$truth" "$dest/truth.json"
  for log in haproxy glance_api keystone glance_uwsgi keystone_uwsgi client-debug haproxy8292; do
    [ -f "$out/$name.$log.log" ] && gzip -9c "$out/$name.$log.log" > "$dest/$log.log.gz"
  done
  gzip -9c /tmp/rig/mysql-run/mysqld.err > "$dest/mariadb-error.log.gz"
done
[ -n "${KEEP_RIG:-}" ] || bash "$rig/make_captures.sh" stop
echo "fixtures in $here/tests/fixtures/rig-causes; raw rig output in $out"
exit $status
