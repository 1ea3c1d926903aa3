"""Typed events of the HTTP/1.x decoder."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..base import ConnectionEvent, frames_start


@dataclass
class BodyInfo:
    size: int = 0  # decoded body bytes (after de-chunking, before content-coding)
    wire_size: int = 0  # bytes on the wire, chunk framing included
    md5: str | None = None
    sha256: str | None = None
    sha512: str | None = None
    content_type: str = ""
    content_encoding: str = ""
    chunked: bool = False
    text: bytes | None = None  # kept (decoded from gzip/deflate) when small and textual, capped
    json: Any = None  # parsed JSON when the body is JSON and within the cap
    capped: bool = False  # text/json were cut at the cap
    # bytes over time, bounded (progress.py): (time, bytes so far) points, the last one at `size`
    progress: list[tuple[float, int]] = field(default_factory=list)
    # capture gaps inside the body: (time, offset, bytes lost), at most progress.MAX_GAPS of them
    gaps: list[tuple[float, int, int]] = field(default_factory=list)


@dataclass
class HttpTransaction(ConnectionEvent):
    method: str | None = None  # None when only a response was seen (capture started mid-way)
    uri: str | None = None
    version: str = ""
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: BodyInfo = field(default_factory=BodyInfo)
    request_first_time: float | None = None
    request_last_time: float | None = None
    request_frames: tuple[int, int] | None = None  # (first, last)
    status: int | None = None  # final status; None when no response was seen
    reason: str = ""
    interim: list[int] = field(default_factory=list)  # 1xx responses (100 Continue)
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: BodyInfo = field(default_factory=BodyInfo)
    response_first_time: float | None = None
    response_last_time: float | None = None
    response_frames: tuple[int, int] | None = None
    incomplete: bool = False  # request or response not seen whole
    gap: bool = False  # a capture gap touched this transaction
    truncated: bool = False  # the capture (or connection) ended before the message did
    tls: bool = False  # carried inside TLS (decrypted)
    notes: list[str] = field(default_factory=list)  # anomalies, resync points, etc.

    @property
    def first_frame(self) -> int:
        return frames_start(self.request_frames, self.response_frames)

    def header(self, name: str, response: bool = False) -> str | None:
        name = name.lower()
        for k, v in (self.response_headers if response else self.request_headers):
            if k.lower() == name:
                return v
        return None
