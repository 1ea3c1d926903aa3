"""Typed events of the MySQL client/server protocol decoder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..base import ConnectionEvent, frames_start


@dataclass
class MysqlHandshake(ConnectionEvent):
    time: float
    frames: tuple[int, int]
    server_version: str = ""
    thread_id: int | None = None  # the server's connection id
    user: str | None = None
    database: str | None = None
    auth_plugin: str | None = None
    capabilities: int = 0  # negotiated (client & server)
    ssl: bool = False  # the connection switched to TLS: the rest is encrypted
    compressed: bool = False
    result: str | None = None  # "ok" / "error"
    error_code: int | None = None
    error_message: str | None = None
    inferred: bool = False
    charset: int | None = None
    server_capabilities: int = 0
    client_capabilities: int | None = None
    auth_length: int | None = None  # length of the client's auth data (the data itself is a secret)
    connect_attrs: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def first_frame(self) -> int:
        return self.frames[0]


@dataclass
class SqlStatement(ConnectionEvent):
    command: str  # protocol name: COM_QUERY, COM_STMT_EXECUTE, COM_INIT_DB, COM_PING, …
    sql: str | None  # SQL text (values filled in for prepared statements) or the command's argument
    request_time: float
    response_time: float | None = None  # end of the response
    latency: float | None = None
    result: str | None = None  # "ok" | "error" | "rows" | None (no response seen)
    affected_rows: int | None = None
    last_insert_id: int | None = None
    rows: int | None = None  # rows returned by a result set
    columns: list[str] = field(default_factory=list)
    row_data: list[list[Any]] = field(default_factory=list)  # first rows, capped
    error_code: int | None = None
    error_message: str | None = None
    sql_state: str | None = None
    warnings: int | None = None
    statement_id: int | None = None  # prepared statements
    params: list[Any] | None = None
    request_frames: tuple[int, int] | None = None
    response_frames: tuple[int, int] | None = None
    incomplete: bool = False
    gap: bool = False
    inferred: bool = False  # decoded without seeing the handshake: capabilities were guessed
    tls: bool = False  # carried inside TLS (decrypted with the key log)
    database: str | None = None
    user: str | None = None
    notes: list[str] = field(default_factory=list)
    info: str | None = None  # the OK packet's human-readable info ("Rows matched: 1 ...")
    results: int = 0  # results in the reply (result sets and OKs; several with multi-statements / CALL)
    query_attributes: dict[str, Any] | None = None  # COM_QUERY attributes (CLIENT_QUERY_ATTRIBUTES)

    @property
    def first_frame(self) -> int:
        return frames_start(self.request_frames, self.response_frames)
