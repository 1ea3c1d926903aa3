#!/usr/bin/env bash
# Remake tests/fixtures/rig-logs/: rig captures with every log written beside them (haproxy, glance-api,
# keystone, both uWSGI request logs, the clients' --debug output), log slices gzip'd.
#   bash scripts/make_log_fixtures.sh [scenario ...]   # default: tls_overcloud tls_failures failures
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
rig=${RIG:-$here/../shared/rig}
out=${OUT:-$(mktemp -d /tmp/glancetrace-riglogs.XXXXXX)}
export RIG_SCALE=${RIG_SCALE:-0.1} OUTDIR=$out RIG=$rig
[ -n "${SKIP_SETUP:-}" ] || bash "$rig/make_captures.sh" setup
/tmp/rigvenv/bin/python "$here/scripts/rig_logs.py" "$@"
for truth in "$out"/*.truth.json; do
  name=$(basename "$truth" .truth.json)
  dest=$here/tests/fixtures/rig-logs/$name
  mkdir -p "$dest"
  cp "$out/$name.pcap" "$dest/capture.pcap"
  cp "$truth" "$dest/truth.json"
  [ -f "$out/$name.keys" ] && cp "$out/$name.keys" "$dest/capture.keys"
  for log in haproxy glance_api keystone glance_uwsgi keystone_uwsgi client-debug; do
    [ -f "$out/$name.$log.log" ] && gzip -9c "$out/$name.$log.log" > "$dest/$log.log.gz"
  done
  # MariaDB's error log is small: whole (connections a capture opened are aborted at the next restart)
  gzip -9c /tmp/rig/mysql-run/mysqld.err > "$dest/mariadb-error.log.gz"
done
[ -n "${KEEP_RIG:-}" ] || bash "$rig/make_captures.sh" stop
echo "fixtures in $here/tests/fixtures/rig-logs; raw rig output in $out"
