"""What Glance's SQL statements mean: table, operation, image id, columns written, status transitions.

Glance (oslo.db / SQLAlchemy) writes images with compare-and-swap updates:
``UPDATE images SET ... status='saving' ... WHERE images.id = '<id>' AND images.status = 'queued'``.
When such an update matches 0 rows another request changed the image first and the transition failed
(Glance then raises Conflict). That is only visible through the statement's affected-rows count, so
:func:`interpret` combines the (cached) meaning of the SQL text with the result of one execution.

Parsing is cached by statement text and guarded by a cheap first-keyword check: Keystone issues
thousands of SELECTs per capture and none of them needs sqlglot.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Mapping

import sqlglot
from sqlglot import exp

from glancetrace.protocols.mysql.events import SqlStatement

GLANCE_TABLES = frozenset(
    {
        "images",
        "image_properties",
        "image_locations",
        "image_tags",
        "image_members",
        "tasks",
        "task_info",
        "metadef_namespaces",
        "metadef_objects",
        "metadef_properties",
        "metadef_tags",
        "metadef_resource_types",
        "metadef_namespace_resource_types",
        "node_reference",
        "cached_images",
        "alembic_version",
        "migrate_version",
    }
)

# Keystone's schema (only names are needed to tell its traffic apart).
KEYSTONE_TABLES = frozenset(
    {
        "access_rule",
        "access_token",
        "application_credential",
        "application_credential_access_rule",
        "application_credential_role",
        "assignment",
        "config_register",
        "consumer",
        "credential",
        "endpoint",
        "endpoint_group",
        "expiring_user_group_membership",
        "federated_user",
        "federation_protocol",
        "group",
        "id_mapping",
        "identity_provider",
        "idp_remote_ids",
        "implied_role",
        "limit",
        "local_user",
        "mapping",
        "nonlocal_user",
        "password",
        "policy",
        "policy_association",
        "project",
        "project_endpoint",
        "project_endpoint_group",
        "project_option",
        "project_tag",
        "region",
        "registered_limit",
        "request_token",
        "revocation_event",
        "role",
        "role_option",
        "sensitive_config",
        "service",
        "service_provider",
        "system_assignment",
        "token",
        "trust",
        "trust_role",
        "user",
        "user_group_membership",
        "user_option",
        "whitelisted_config",
    }
)

_UUID = re.compile(r"'([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})'")
_FROM_TABLES = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+`?(\w+)`?", re.IGNORECASE)
_TASK_IMAGE_ID = re.compile(r"image_id\W+([0-9a-fA-F-]{36})")
# a task is read by its own id (tasks.id / task_info.task_id) or listed by its image (tasks.image_id)
_TASK_KEY = re.compile(r"\b(tasks\.id|task_id|image_id)`?\s*=\s*'([0-9a-fA-F-]{36})'", re.IGNORECASE)
_FIRST_WORD = re.compile(r"\s*(?:/\*.*?\*/\s*)*([A-Za-z]+)", re.DOTALL)

_TXN_WORDS = {"COMMIT": "COMMIT", "ROLLBACK": "ROLLBACK", "BEGIN": "BEGIN", "START": "BEGIN", "XA": "XA"}
_SESSION_WORDS = {"SET", "SHOW", "USE", "SAVEPOINT", "RELEASE", "DO", "DESCRIBE", "DESC", "EXPLAIN"}
_WRITE_WORDS = {"INSERT", "UPDATE", "DELETE", "REPLACE"}


@dataclass(frozen=True)
class StatusChange:
    """A write of images.status (or tasks.status when ``table == 'tasks'``)."""

    image_id: str | None
    status: str  # the new status
    expected: str | None = None  # the compare-and-swap precondition (WHERE ... status = '<expected>')
    table: str = "images"

    @property
    def cas(self) -> bool:
        return self.expected is not None


@dataclass(frozen=True)
class SqlMeaning:
    """What one SQL text means, independent of any execution (cached per distinct text)."""

    kind: str  # "glance" | "keystone" | "session" (SET/SHOW/SELECT @@x) | "transaction" | "other"
    operation: str  # SELECT / INSERT / UPDATE / DELETE / REPLACE / COMMIT / ROLLBACK / BEGIN / SET / … / OTHER
    table: str | None = None  # main table
    tables: tuple[str, ...] = ()
    image_id: str | None = None  # the image the statement is about (Glance tables)
    image_ids: tuple[str, ...] = ()  # every image id literal mentioned
    task_id: str | None = None
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # INSERT values / UPDATE SET
    where: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # col = literal in WHERE
    status_change: StatusChange | None = None
    soft_delete: bool = False  # sets deleted=1 (Glance's soft delete)
    row_id: int | None = None  # WHERE <table>.id = <int> (image_locations, image_properties rows)
    property_name: str | None = None  # image_properties row name
    property_value: Any = None
    parse_error: str | None = None
    summary: str = ""

    @property
    def is_write(self) -> bool:
        return self.operation in _WRITE_WORDS


@dataclass
class GlanceSql:
    """One executed statement with its meaning and outcome."""

    meaning: SqlMeaning
    statement: SqlStatement | None = None
    affected_rows: int | None = None
    error: str | None = None  # the server's error for this statement

    # Convenience pass-throughs so callers rarely need .meaning.
    @property
    def kind(self) -> str:
        return self.meaning.kind

    @property
    def operation(self) -> str:
        return self.meaning.operation

    @property
    def table(self) -> str | None:
        return self.meaning.table

    @property
    def image_id(self) -> str | None:
        return self.meaning.image_id

    @property
    def status_change(self) -> StatusChange | None:
        return self.meaning.status_change

    @property
    def row_id(self) -> int | None:
        """The row's integer id: from WHERE <table>.id = N, or the server's last_insert_id for an INSERT.

        Lets the caller map later ``UPDATE image_locations … WHERE image_locations.id = N`` back to the image.
        """
        if self.meaning.row_id is not None:
            return self.meaning.row_id
        if self.meaning.operation == "INSERT" and self.statement is not None:
            return self.statement.last_insert_id or None
        return None

    @property
    def ok(self) -> bool | None:
        """Did the statement take effect? None when unknown (no response seen).

        A write that matched 0 rows did nothing: for a compare-and-swap status update this is the
        failed transition Glance turns into a 409 Conflict.
        """
        if self.error is not None:
            return False
        if self.meaning.is_write and self.affected_rows is not None:
            return self.affected_rows > 0
        if self.statement is not None and self.statement.result is None:
            return None
        return True if self.statement is not None or self.affected_rows is not None else None

    @property
    def failed_transition(self) -> bool:
        sc = self.meaning.status_change
        return sc is not None and sc.cas and self.ok is False

    @property
    def summary(self) -> str:
        s = self.meaning.summary
        sc = self.meaning.status_change
        if sc is not None and self.ok is False:
            why = self.error or f"{self.affected_rows} rows"
            s += f" — FAILED ({why})"
        return s


def _literal(node: exp.Expression) -> Any:
    """Python value of a SQL literal; anything else as its SQL text."""
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        txt = node.this
        try:
            return int(txt)
        except (TypeError, ValueError):
            try:
                return float(txt)
            except (TypeError, ValueError):
                return txt
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        v = _literal(node.this)
        return -v if isinstance(v, (int, float)) else node.sql(dialect="mysql")
    if isinstance(node, exp.Paren):
        return _literal(node.this)
    return node.sql(dialect="mysql")


def _col_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Column):
        return node.name
    if isinstance(node, exp.Identifier):
        return node.this
    return None


def _where_equalities(where: exp.Expression | None) -> dict[str, Any]:
    """column → literal for every ``col = literal`` (either order) joined by AND in the WHERE clause."""
    out: dict[str, Any] = {}
    if where is None:
        return out
    for eq in where.find_all(exp.EQ):
        left, right = eq.this, eq.expression
        if isinstance(right, exp.Column) and not isinstance(left, exp.Column):
            left, right = right, left
        name = _col_name(left)
        if name is None or isinstance(right, exp.Column):
            continue
        out.setdefault(name, _literal(right))
    for is_ in where.find_all(exp.Is):  # deleted_at IS NULL
        name = _col_name(is_.this)
        if name is not None:
            out.setdefault(name, None)
    return out


def _truthy(v: Any) -> bool:
    return v in (1, True, "1", "true", "TRUE")


def _first_word(text: str) -> str:
    m = _FIRST_WORD.match(text)
    return m.group(1).upper() if m else ""


def _classify_tables(tables: tuple[str, ...]) -> str:
    if any(t in GLANCE_TABLES for t in tables):
        return "glance"
    if any(t in KEYSTONE_TABLES for t in tables):
        return "keystone"
    return "other"


@lru_cache(maxsize=1 << 16)
def meaning_of(sql: str | None) -> SqlMeaning:
    """The meaning of one SQL text (cached; never raises)."""
    if not sql:
        return SqlMeaning(kind="other", operation="OTHER", summary="(no SQL text)")
    word = _first_word(sql)
    if word in _TXN_WORDS:
        op = _TXN_WORDS[word]
        return SqlMeaning(kind="transaction", operation=op, summary=op)
    if word in _SESSION_WORDS:
        return SqlMeaning(kind="session", operation=word, summary=" ".join(sql.split())[:80])
    if word == "SELECT":
        return _select_meaning(sql)
    if word in _WRITE_WORDS:
        tables = tuple(dict.fromkeys(t.lower() for t in _FROM_TABLES.findall(sql)))
        kind = _classify_tables(tables)
        if kind != "glance":  # Keystone writes (revocation events, …): the table is enough
            return SqlMeaning(
                kind=kind, operation=word, table=tables[0] if tables else None, tables=tables,
                summary=f"{word} {tables[0] if tables else '?'}",
            )
        return _write_meaning(sql, word, tables)
    return SqlMeaning(kind="other", operation=word or "OTHER", summary=" ".join(sql.split())[:80])


def _select_meaning(sql: str) -> SqlMeaning:
    # Regex only: Glance/Keystone SELECTs are numerous and their meaning is "read of table X (image Y)".
    tables = tuple(dict.fromkeys(t.lower() for t in _FROM_TABLES.findall(sql) if t.upper() != "SELECT"))
    if not tables:
        return SqlMeaning(kind="session", operation="SELECT", summary=" ".join(sql.split())[:80])
    kind = _classify_tables(tables)
    ids: tuple[str, ...] = ()
    if kind == "glance":
        ids = tuple(dict.fromkeys(m.lower() for m in _UUID.findall(sql)))
    table = next((t for t in tables if t in GLANCE_TABLES), tables[0]) if kind == "glance" else tables[0]
    summary = f"SELECT {table}" + (f" {ids[0]}" if ids else "")
    if table in ("tasks", "task_info"):  # a task id is not an image id
        keys = {k.lower(): v.lower() for k, v in _TASK_KEY.findall(sql)}
        task_id = keys.get("tasks.id") or keys.get("task_id")
        about = task_id or keys.get("image_id") or ""
        return SqlMeaning(kind=kind, operation="SELECT", table=table, tables=tables, image_id=keys.get("image_id"),
                          image_ids=ids, task_id=task_id, summary=f"SELECT {table} {about}".rstrip())
    return SqlMeaning(
        kind=kind, operation="SELECT", table=table, tables=tables,
        image_id=ids[0] if ids else None, image_ids=ids, summary=summary,
    )


def _write_meaning(sql: str, word: str, tables: tuple[str, ...]) -> SqlMeaning:
    try:
        tree = sqlglot.parse_one(sql, dialect="mysql")
    except Exception as e:  # sqlglot raises ParseError/TokenError; never let that escape
        ids = tuple(dict.fromkeys(m.lower() for m in _UUID.findall(sql)))
        return SqlMeaning(
            kind="glance", operation=word, table=tables[0] if tables else None, tables=tables,
            image_id=ids[0] if ids else None, image_ids=ids, parse_error=str(e)[:200],
            summary=f"{word} {tables[0] if tables else '?'} (unparsed)",
        )

    values: dict[str, Any] = {}
    where: dict[str, Any] = {}
    table: str | None = tables[0] if tables else None
    if isinstance(tree, exp.Insert):
        target = tree.this
        cols: list[str] = []
        if isinstance(target, exp.Schema):
            cols = [_col_name(c) or c.sql() for c in target.expressions]
            target = target.this
        if isinstance(target, exp.Table):
            table = target.name.lower()
        rows = tree.expression
        if isinstance(rows, exp.Values) and rows.expressions:
            first = rows.expressions[0]
            items = first.expressions if isinstance(first, exp.Tuple) else [first]
            values = {c: _literal(v) for c, v in zip(cols, items)}
    elif isinstance(tree, exp.Update):
        if isinstance(tree.this, exp.Table):
            table = tree.this.name.lower()
        for a in tree.expressions:
            if isinstance(a, exp.EQ):
                name = _col_name(a.this)
                if name is not None:
                    values[name] = _literal(a.expression)
        where = _where_equalities(tree.args.get("where"))
    elif isinstance(tree, exp.Delete):
        t = tree.this
        if isinstance(t, exp.Table):
            table = t.name.lower()
        where = _where_equalities(tree.args.get("where"))
    return _glance_meaning(sql, word, table, tables, values, where)


def _glance_meaning(
    sql: str, op: str, table: str | None, tables: tuple[str, ...], values: dict[str, Any], where: dict[str, Any]
) -> SqlMeaning:
    ids = tuple(dict.fromkeys(m.lower() for m in _UUID.findall(sql)))
    image_id: str | None = None
    task_id: str | None = None
    row_id: int | None = None
    if table == "images":
        image_id = where.get("id") or values.get("id")
    elif table in ("image_properties", "image_locations", "image_tags", "image_members"):
        image_id = values.get("image_id") or where.get("image_id")
        rid = where.get("id")
        row_id = rid if isinstance(rid, int) else None
    elif table == "tasks":
        task_id = where.get("id") or values.get("id")
        image_id = values.get("image_id")  # INSERT INTO tasks names the image the task works on
    elif table == "task_info":
        task_id = where.get("task_id") or values.get("task_id")
        image_id = _image_id_in_task_json(values.get("input"))
    if isinstance(image_id, str):
        image_id = image_id.lower()
    else:
        image_id = None

    status_change: StatusChange | None = None
    if table in ("images", "tasks") and isinstance(values.get("status"), str):
        expected = where.get("status") if op == "UPDATE" else None
        status_change = StatusChange(
            image_id=image_id if table == "images" else None,
            status=values["status"],
            expected=expected if isinstance(expected, str) else None,
            table=table,
        )
    soft_delete = _truthy(values.get("deleted")) if "deleted" in values and op == "UPDATE" else False

    prop_name = prop_value = None
    if table == "image_properties":
        prop_name = values.get("name") if op == "INSERT" else where.get("name")
        prop_value = values.get("value")

    summary = _summarise(op, table, image_id or task_id, values, status_change, soft_delete, prop_name, prop_value,
                         row_id)
    return SqlMeaning(
        kind="glance", operation=op, table=table, tables=tables, image_id=image_id, image_ids=ids,
        task_id=task_id if isinstance(task_id, str) else None,
        values=MappingProxyType(values), where=MappingProxyType(where), status_change=status_change,
        soft_delete=soft_delete, row_id=row_id, property_name=prop_name, property_value=prop_value, summary=summary,
    )


def _image_id_in_task_json(v: Any) -> str | None:
    if not isinstance(v, str) or "image_id" not in v:
        return None
    try:
        data = json.loads(v)
    except ValueError:
        m = _TASK_IMAGE_ID.search(v)
        return m.group(1) if m else None
    return data.get("image_id") if isinstance(data, dict) else None


def _short(v: Any, n: int = 40) -> str:
    s = repr(v) if isinstance(v, str) else str(v)
    return s if len(s) <= n else s[: n - 1] + "…"


def _summarise(op, table, ident, values, sc, soft_delete, prop_name, prop_value, row_id) -> str:
    who = f" {ident}" if ident else (f" row {row_id}" if row_id is not None else "")
    if sc is not None:
        if op == "INSERT":
            return f"{table} INSERT{who} status={sc.status}"
        arrow = f"{sc.expected} → {sc.status}" if sc.expected else f"status={sc.status}"
        return f"{table} {op}{who} {arrow}" + (" (soft delete)" if soft_delete else "")
    if soft_delete:
        return f"{table} {op}{who} soft delete"
    if table == "image_properties" and prop_name is not None:
        return f"{table} {op}{who} {prop_name}={_short(prop_value)}"
    if table == "image_locations" and op == "INSERT":
        return f"{table} INSERT{who} {_short(values.get('value'), 60)}"
    if table == "image_tags" and "value" in values:
        return f"{table} {op}{who} {_short(values.get('value'))}"
    cols = ", ".join(k for k in values if k not in ("updated_at", "created_at"))
    return f"{table} {op}{who}" + (f" ({cols})" if cols else "")


def interpret(stmt: SqlStatement) -> GlanceSql:
    """The meaning of one decoded statement with its outcome (affected rows, error)."""
    text = stmt.sql if stmt.command in ("COM_QUERY", "COM_STMT_EXECUTE", "COM_STMT_PREPARE") else None
    if text is None:
        m = SqlMeaning(kind="session", operation=stmt.command, summary=stmt.command)
    else:
        m = meaning_of(text)
    err = None
    if stmt.result == "error":
        err = f"{stmt.error_code} {stmt.error_message or ''}".strip()
    return GlanceSql(meaning=m, statement=stmt, affected_rows=stmt.affected_rows, error=err)


def interpret_text(sql: str, affected_rows: int | None = None) -> GlanceSql:
    """For SQL seen without a wire response (e.g. MariaDB's general query log): outcome unknown."""
    return GlanceSql(meaning=meaning_of(sql), affected_rows=affected_rows)


class TransactionTracker:
    """Holds each connection's statements until COMMIT (released) or ROLLBACK (discarded).

    Glance runs with autocommit off, so a status UPDATE only counts once its transaction commits.
    Keyed by whatever identifies a connection (conn_id, or the general log's thread id).
    """

    def __init__(self) -> None:
        self._open: dict[Any, list[Any]] = {}

    def add(self, conn: Any, item: Any, meaning: SqlMeaning) -> tuple[list[Any], list[Any]]:
        """Returns (committed, rolled_back) items released by this statement."""
        if meaning.operation == "COMMIT":
            return self._open.pop(conn, []), []
        if meaning.operation == "ROLLBACK":
            return [], self._open.pop(conn, [])
        if meaning.is_write:
            self._open.setdefault(conn, []).append(item)
        return [], []

    def close(self, conn: Any) -> list[Any]:
        """The connection ended: its open transaction is rolled back by the server."""
        return self._open.pop(conn, [])

    def pending(self) -> dict[Any, list[Any]]:
        return {k: list(v) for k, v in self._open.items() if v}
