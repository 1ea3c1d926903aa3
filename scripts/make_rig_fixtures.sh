#!/usr/bin/env bash
# Remake rig fixtures staged by one of the project's scenario drivers (each imports ../shared/rig/capture.py):
#   bash scripts/make_rig_fixtures.sh logs   [scenario ...]  # tests/fixtures/rig-logs   (scripts/rig_logs.py)
#   bash scripts/make_rig_fixtures.sh causes [scenario ...]  # tests/fixtures/rig-causes (scripts/rig_causes.py)
#   bash scripts/make_rig_fixtures.sh import [scenario ...]  # tests/fixtures/rig-import (scripts/rig_import.py)
# Each scenario's capture, key log, truth and every log slice (gzip'd) go to tests/fixtures/rig-<driver>/<name>.
# The rig has fixed ports and state in /tmp/rig: run one at a time (flock /tmp/rig.lock bash ...).
# SKIP_SETUP=1 uses a rig already set up; KEEP_RIG=1 leaves it running; RIG_SCALE (default 0.1) sizes images.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
driver=${1:?which scenarios: logs, causes or import}
shift
[ -f "$here/scripts/rig_$driver.py" ] || { echo "no scripts/rig_$driver.py" >&2; exit 2; }
rig=${RIG:-$here/../shared/rig}
out=${OUT:-$(mktemp -d "/tmp/glancetrace-rig-$driver.XXXXXX")}
export RIG_SCALE=${RIG_SCALE:-0.1} OUTDIR=$out RIG=$rig
[ -n "${SKIP_SETUP:-}" ] || bash "$rig/make_captures.sh" setup
status=0
/tmp/rigvenv/bin/python "$here/scripts/rig_$driver.py" "$@" || status=$?
for truth in "$out"/*.truth.json; do
  [ -f "$truth" ] || continue
  name=$(basename "$truth" .truth.json)
  dest=$here/tests/fixtures/rig-$driver/$name
  mkdir -p "$dest"
  cp "$out/$name.pcap" "$dest/capture.pcap"
  cp "$truth" "$dest/truth.json"
  [ -f "$out/$name.keys" ] && cp "$out/$name.keys" "$dest/capture.keys"
  for log in "$out/$name".*.log; do
    [ -f "$log" ] && gzip -9c "$log" > "$dest/$(basename "$log" | cut -d. -f2-).gz"
  done
  [ -f "$out/$name.mysql-general.tsv" ] && gzip -9c "$out/$name.mysql-general.tsv" > "$dest/mysql-general.tsv.gz"
  # MariaDB's error log is small: whole (connections a capture opened are aborted at the next restart)
  gzip -9c /tmp/rig/mysql-run/mysqld.err > "$dest/mariadb-error.log.gz"
done
[ -n "${KEEP_RIG:-}" ] || bash "$rig/make_captures.sh" stop
echo "fixtures in $here/tests/fixtures/rig-$driver; raw rig output in $out"
exit $status
