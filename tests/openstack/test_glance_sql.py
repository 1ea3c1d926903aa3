"""glance_sql against MariaDB's general query log of the real rig, and unit cases for compare-and-swap."""

from __future__ import annotations

import pytest

from glancetrace.openstack.glance_sql import (
    TransactionTracker,
    interpret,
    interpret_text,
    meaning_of,
)
from glancetrace.protocols.mysql.events import SqlStatement

from . import rigdata

SCENARIOS = [s for s in rigdata.scenarios() if rigdata.path(s, "mysql-general.tsv")]


def _rebuild_status_histories(rows):
    """image id → [(status, time, verb)] from committed SQL alone (outcome unknown: assumed to succeed)."""
    tracker = TransactionTracker()
    hist: dict[str, list] = {}

    def apply(items):
        for row, m in items:
            sc = m.status_change
            if sc is None or sc.table != "images" or sc.image_id is None:
                continue
            h = hist.setdefault(sc.image_id, [])
            if not h or h[-1][0] != sc.status:
                h.append((sc.status, row.time, m.operation))

    for row in rows:
        if row.command == "Quit":
            tracker.close(row.thread_id)
            continue
        if row.command != "Query":
            continue
        m = meaning_of(row.argument)
        committed, _ = tracker.add(row.thread_id, (row, m), m)
        apply(committed)
    return hist


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_status_history_from_general_log_matches_truth(scenario):
    truth = rigdata.truth(scenario)
    hist = _rebuild_status_histories(rigdata.general_log(scenario))
    assert truth["images"], "truth has no images"
    for img in truth["images"]:
        want = [(h["status"], h["sql_time"], h["statement"]) for h in img["status_history"]]
        got = hist.get(img["id"], [])
        assert got == want, f"{scenario} {img['name']} {img['id']}"
    # and no image invented
    assert set(hist) <= {img["id"] for img in truth["images"]} | set(truth.get("other_image_ids", []))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_statement_classified(scenario):
    truth = rigdata.truth(scenario)
    rows = [r for r in rigdata.general_log(scenario) if r.command == "Query"]
    assert len(rows) == truth["sql"]["statements_total_COM_QUERY"]
    by_user = {"glance": 0, "keystone": 0}
    first = {}
    for r in rows:
        m = meaning_of(r.argument)
        assert m.parse_error is None, r.argument[:200]
        user = r.user_host.split("[", 1)[0]
        if m.kind in ("glance", "keystone"):
            # a statement on a Glance table comes from the glance user, Keystone's from keystone
            assert m.kind == user, r.argument[:200]
        by_user[user] = by_user.get(user, 0) + 1
        first[m.operation] = first.get(m.operation, 0) + 1
    assert by_user == {k: v for k, v in truth["sql"]["queries_by_db_user"].items()} | {
        k: 0 for k in ("glance", "keystone") if k not in truth["sql"]["queries_by_db_user"]
    }
    for verb, n in truth["sql"]["queries_by_first_keyword"].items():
        assert first.get(verb, 0) == n, verb


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_properties_and_locations_match_truth(scenario):
    truth = rigdata.truth(scenario)
    tracker = TransactionTracker()
    props: dict[str, dict] = {}
    locs: dict[str, list] = {}
    for row in rigdata.general_log(scenario):
        if row.command != "Query":
            continue
        m = meaning_of(row.argument)
        committed, _ = tracker.add(row.thread_id, m, m)
        for c in committed:
            if c.table == "image_properties" and c.operation == "INSERT":
                props.setdefault(c.image_id, {})[c.property_name] = c.property_value
            elif c.table == "image_locations" and c.operation == "INSERT":
                locs.setdefault(c.image_id, []).append(c.values["value"])
    for img in truth["images"]:
        if img.get("deleted"):
            continue
        for k, v in img["properties"].items():
            assert props.get(img["id"], {}).get(k) == v, (img["name"], k)
        assert locs.get(img["id"], []) == [loc["url"] for loc in img["locations"]]


def _stmt(sql, affected=None, result="ok", **kw):
    return SqlStatement(conn_id=1, client="127.0.0.1:40000", server="127.0.0.1:3306", command="COM_QUERY",
                        sql=sql, request_time=1.0, result=result, affected_rows=affected, **kw)


CAS = ("UPDATE images SET id='8c725400-5da1-4638-b1b0-a46cc1043269', status='saving', size=NULL, "
       "updated_at='2026-11-27 00:27:10.316450' WHERE images.id = '8c725400-5da1-4638-b1b0-a46cc1043269' "
       "AND images.status = 'queued'")


def test_cas_success_and_failure():
    ok = interpret(_stmt(CAS, affected=1))
    assert ok.status_change.expected == "queued" and ok.status_change.status == "saving"
    assert ok.status_change.image_id == "8c725400-5da1-4638-b1b0-a46cc1043269"
    assert ok.ok is True and not ok.failed_transition
    bad = interpret(_stmt(CAS, affected=0))
    assert bad.ok is False and bad.failed_transition
    assert "FAILED" in bad.summary and "queued → saving" in bad.summary
    unknown = interpret_text(CAS)
    assert unknown.ok is None and not unknown.failed_transition
    err = interpret(_stmt(CAS, result="error", error_code=1205, error_message="Lock wait timeout exceeded"))
    assert err.ok is False and err.failed_transition and "1205" in err.summary


def test_plain_update_is_not_cas_and_soft_delete():
    m = meaning_of("UPDATE images SET status='deleted', deleted=1, deleted_at='2026-11-27 00:29:29' "
                   "WHERE images.id = '6cab159b-a3fb-49ac-9c94-3e0e529bf89c'")
    assert m.status_change.status == "deleted" and not m.status_change.cas and m.soft_delete
    m = meaning_of("UPDATE image_properties SET deleted=1, deleted_at='x' "
                   "WHERE image_properties.image_id = '6cab159b-a3fb-49ac-9c94-3e0e529bf89c'")
    assert m.soft_delete and m.image_id == "6cab159b-a3fb-49ac-9c94-3e0e529bf89c" and m.status_change is None


def test_tasks_and_tags():
    m = meaning_of("INSERT INTO task_info (task_id, input, result, message) VALUES "
                   "('0b0c6d5e-1111-2222-3333-444455556666', "
                   "'{\"image_id\": \"7527da3e-c8b5-41dc-b4f8-aa0de1a1a6e3\", \"import_req\": {}}', NULL, '')")
    assert m.task_id == "0b0c6d5e-1111-2222-3333-444455556666"
    assert m.image_id == "7527da3e-c8b5-41dc-b4f8-aa0de1a1a6e3"
    m = meaning_of("UPDATE tasks SET status='processing', updated_at='x' WHERE tasks.id = "
                   "'0b0c6d5e-1111-2222-3333-444455556666'")
    assert m.status_change.table == "tasks" and m.status_change.status == "processing" and m.image_id is None
    m = meaning_of("INSERT INTO image_tags (image_id, value, created_at, updated_at, deleted_at, deleted) VALUES "
                   "('7527da3e-c8b5-41dc-b4f8-aa0de1a1a6e3', 'tripleo', 'x', 'x', NULL, 0)")
    assert m.table == "image_tags" and m.values["value"] == "tripleo" and "tripleo" in m.summary


def test_rollback_discards_and_garbage_does_not_raise():
    t = TransactionTracker()
    m = meaning_of(CAS)
    assert t.add(7, "cas", m) == ([], [])
    assert t.add(7, "rb", meaning_of("ROLLBACK")) == ([], ["cas"])
    t.add(7, "cas", m)
    assert t.add(7, "c", meaning_of("COMMIT")) == (["cas"], [])
    for junk in ["UPDATE images SET (((", "INSERT INTO images VALUES", "", None, "\x00\xff", "SELEC"]:
        meaning_of(junk)
    g = interpret(SqlStatement(conn_id=1, client="a", server="b", command="COM_PING", sql=None, request_time=0))
    assert g.kind == "session"


from glancetrace import pipeline

PCAP_SCENARIOS = [s for s in SCENARIOS if rigdata.path(s, "pcap") and not rigdata.path(s, "capture.keys")]


@pytest.mark.parametrize("scenario", PCAP_SCENARIOS)
def test_status_history_from_wire_matches_truth(scenario):
    """Same rebuild from the statements decoded off the wire, with their real affected-rows counts."""
    truth = rigdata.truth(scenario)
    res = pipeline.decode(str(rigdata.path(scenario, "pcap")), want_http=False)
    tracker = TransactionTracker()
    hist: dict[str, list] = {}
    n_glance_writes = 0
    location_image: dict[int, str] = {}
    for st in res.of_type(SqlStatement):
        g = interpret(st)
        if g.table == "image_locations" and g.operation == "INSERT":
            location_image[g.row_id] = g.image_id  # the server's last_insert_id
        elif g.table == "image_locations" and g.operation == "UPDATE" and g.image_id is None:
            assert g.row_id in location_image  # updates by row id map back to an image
        if g.kind == "glance" and g.meaning.is_write:
            n_glance_writes += 1
            assert g.ok is not None  # every write's response was seen
            assert not g.failed_transition, g.summary  # no lost compare-and-swap in these scenarios
        committed, _ = tracker.add(st.conn_id, g, g.meaning)
        for c in committed:
            sc = c.status_change
            if sc and sc.table == "images" and c.ok:
                h = hist.setdefault(sc.image_id, [])
                if not h or h[-1] != sc.status:
                    h.append(sc.status)
    assert n_glance_writes
    for img in truth["images"]:
        assert hist.get(img["id"]) == [h["status"] for h in img["status_history"]], img["name"]
