#!/usr/bin/env bash
# Remake tests/fixtures/rig-import/: image import (glance-direct, web-download, copy-image) and Keystone token
# failures staged on the rig by scripts/rig_import.py, with the server logs and MariaDB's general log beside them.
#   bash scripts/make_import_fixtures.sh [scenario ...]   # default: import_methods token_failures
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-$here/../shared/rig}
out=${OUT:-$(mktemp -d /tmp/glancetrace-rigimport.XXXXXX)}
export RIG_SCALE=${RIG_SCALE:-0.1} OUTDIR=$out RIG=$rig
[ -n "${SKIP_SETUP:-}" ] || bash "$rig/make_captures.sh" setup
status=0
/tmp/rigvenv/bin/python "$here/scripts/rig_import.py" "$@" || status=$?
for truth in "$out"/*.truth.json; do
  [ -f "$truth" ] || continue
  name=$(basename "$truth" .truth.json)
  dest=$here/tests/fixtures/rig-import/$name
  mkdir -p "$dest"
  cp "$out/$name.pcap" "$dest/capture.pcap"
  cp "$truth" "$dest/truth.json"
  for log in glance_api keystone glance_uwsgi keystone_uwsgi client-debug; do
    [ -f "$out/$name.$log.log" ] && gzip -9c "$out/$name.$log.log" > "$dest/$log.log.gz"
  done
  [ -f "$out/$name.mysql-general.tsv" ] && gzip -9c "$out/$name.mysql-general.tsv" > "$dest/mysql-general.tsv.gz"
done
[ -n "${KEEP_RIG:-}" ] || bash "$rig/make_captures.sh" stop
echo "fixtures in $here/tests/fixtures/rig-import; raw rig output in $out"
exit $status
