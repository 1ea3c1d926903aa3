"""Typed events of the TLS decoder."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..base import ConnectionEvent


@dataclass
class TlsAlert:
    direction: int  # 0 = sent by the client, 1 = by the server
    level: int | None  # 1 warning, 2 fatal; None when encrypted and not decrypted
    description: int | None
    name: str  # "close_notify", ... or "encrypted alert"
    time: float
    frame: int
    encrypted: bool  # sent inside the encrypted channel


@dataclass
class TlsSession(ConnectionEvent):
    """One TLS connection, emitted when the TCP connection closes.

    Byte counts are TLS record payload bytes on the wire (ciphertext, header
    excluded); `plaintext_*` count decrypted application bytes.  Without keys,
    TLS 1.3 handshake records after the ServerHello are told from application
    data by position (the client's first encrypted record is its Finished), so
    a server's NewSessionTicket counts as application data then.
    """

    sni: str | None = None
    version: str | None = None  # negotiated, "TLS 1.3"
    cipher: str | None = None  # IANA name, "TLS_AES_128_GCM_SHA256"
    alpn: str | None = None  # negotiated
    alpn_offered: list[str] = field(default_factory=list)
    group: str | None = None  # key exchange group ("x25519")
    cert_subject: str | None = None  # leaf certificate (visible in TLS 1.2, or decrypted 1.3)
    cert_issuer: str | None = None
    cert_chain: int = 0  # certificates sent by the server
    client_random: str | None = None  # hex, the key log lookup key
    handshake_start: float | None = None  # ClientHello
    handshake_start_frame: int | None = None
    handshake_end: float | None = None  # last Finished
    handshake_end_frame: int | None = None
    established: bool = False
    resumed: bool = False
    hello_retry: bool = False
    bytes_up: int = 0  # application-data record payload, client → server
    bytes_down: int = 0
    records_up: int = 0
    records_down: int = 0
    plaintext_up: int = 0  # decrypted application bytes
    plaintext_down: int = 0
    first_up: float | None = None
    last_up: float | None = None
    first_down: float | None = None
    last_down: float | None = None
    first_up_frame: int | None = None
    last_up_frame: int | None = None
    first_down_frame: int | None = None
    last_down_frame: int | None = None
    alerts: list[TlsAlert] = field(default_factory=list)
    key_updates: int = 0
    decrypted: bool = False
    why_not: str = ""  # why not decrypted, or why decryption stopped
    auth_failures: int = 0  # records that failed authentication after keys were found good
    gaps: int = 0  # capture gaps inside the TLS stream
    close_reason: str = ""
    anomalies: list[str] = field(default_factory=list)

    @property
    def end(self) -> float | None:
        """The last TLS record or alert seen."""
        times = [t for t in (self.handshake_end, self.last_up, self.last_down) if t is not None]
        times += [a.time for a in self.alerts]
        return max(times, default=None)

    @property
    def frames(self) -> tuple[int, int] | None:
        """(first, last) frame of the session's records."""
        firsts = [f for f in (self.handshake_start_frame, self.first_up_frame, self.first_down_frame) if f]
        lasts = [f for f in (self.handshake_end_frame, self.last_up_frame, self.last_down_frame) if f]
        lasts += [a.frame for a in self.alerts]
        if not firsts and not lasts:
            return None
        return min(firsts or lasts), max(lasts or firsts)

    @property
    def handshake_frames(self) -> list[int]:
        """ClientHello and last Finished, those that were seen."""
        return [f for f in (self.handshake_start_frame, self.handshake_end_frame) if f]

    @property
    def first_frame(self) -> int:
        fr = self.frames
        return fr[0] if fr else 0
