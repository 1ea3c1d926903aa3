"""Evidence as Wireshark shows it: the file, its frame numbers and its tcp.stream.

The pass counts the frames of a capture read from pieces across the pieces (so its
analysis is the whole capture's); Wireshark opens one piece at a time and numbers
frames and TCP streams afresh in each.  Every frame number and display filter that
goes out is turned into the numbers of the file that holds it; evidence that runs
from one piece into the next gets a filter for each piece and says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def event_frames(ev) -> list[int]:
    """First and last frames of an HTTP transaction's or SQL statement's request and response."""
    return [f for fr in (ev.request_frames, ev.response_frames) if fr for f in fr]


def filter_for(conn_id: int | None, frames: list[int]) -> str:
    """A display filter selecting the connection's packets from the first to the last frame cited."""
    fs = [f for f in frames if f]
    parts = []
    if conn_id is not None:
        parts.append(f"tcp.stream eq {conn_id}")
    if fs:
        lo, hi = min(fs), max(fs)
        parts.append(f"frame.number == {lo}" if lo == hi else f"frame.number >= {lo} && frame.number <= {hi}")
    return " && ".join(parts)


@dataclass
class Ref:
    """Evidence inside one file, in that file's own numbers."""
    capture: int
    file: str
    frames: list[int]  # [first, last]
    conn_id: int | None
    wireshark_filter: str

    def as_dict(self) -> dict:
        return {"capture": self.capture, "file": self.file, "frames": self.frames, "conn_id": self.conn_id,
                "wireshark_filter": self.wireshark_filter}


class Evidence:
    def __init__(self, result):
        self.paths = [c.path for c in result.captures]
        self.pieces = result.pieces  # first piece's capture index → PieceMap
        self.plan = result.plan

    def reading(self, capture: int) -> dict:
        """What reading the capture assumed: its clock offset (and where it came from), and
        whether it was read as a piece of another capture."""
        plan = self.plan
        if plan is None or capture >= len(plan.files):
            return {"clock_offset": {"seconds": 0.0, "source": "reference", "segments": 0}, "piece_of": None,
                    "piece": 0, "pieces": 1}
        off = plan.offset_of(capture)
        f = plan.files[capture]
        lead = plan.groups[f.group][0]
        return {"clock_offset": {"seconds": off.seconds, "source": off.source, "segments": off.segments},
                "piece_of": lead if lead != capture else None, "piece": f.piece,
                "pieces": len(plan.groups[f.group])}

    def file(self, capture: int) -> str:
        return self.paths[capture] if 0 <= capture < len(self.paths) else ""

    def frame(self, capture: int, frame: int) -> tuple[int, int]:
        """(capture index of the file, frame number in it) of a frame as the pass counted it."""
        pm = self.pieces.get(capture)
        return pm.local(frame) if pm is not None and frame else (capture, frame)

    def frames(self, capture: int, frames) -> list[int] | None:
        """Frame numbers, each in its own file's numbering (the pair of a range may lie in two pieces)."""
        if not frames:
            return None
        return [self.frame(capture, int(f))[1] for f in frames]

    def refs(self, capture: int, conn_id: int | None, frames) -> list[Ref]:
        fs = [int(f) for f in frames or () if f]
        pm = self.pieces.get(capture)
        if pm is None or not fs:
            lo_hi = [min(fs), max(fs)] if fs else []
            return [Ref(capture, self.file(capture), lo_hi, conn_id, filter_for(conn_id, fs))]
        lo, hi = min(fs), max(fs)
        out = []
        for k in range(pm.piece_of(lo), pm.piece_of(hi) + 1):
            local = pm.streams.get((conn_id, k)) if conn_id is not None else None
            if conn_id is not None and local is None:
                continue  # the connection sent nothing in this piece
            base = pm.bases[k]
            end = pm.bases[k + 1] if k + 1 < len(pm.bases) else hi
            span = [max(lo, base + 1) - base, min(hi, end) - base]
            cap = pm.files[k]
            out.append(Ref(cap, self.file(cap), span, local, filter_for(local, span)))
        return out

    def item(self, capture: int, conn_id: int | None, frames) -> dict:
        """`capture`, `file`, `conn_id` and `wireshark_filter` of an item, in the numbers of the file
        its first frame is in; read from pieces, also `evidence`: one entry per piece it touches."""
        refs = self.refs(capture, conn_id, frames)
        first = refs[0] if refs else Ref(capture, self.file(capture), [], conn_id, "")
        out = {"capture": first.capture, "file": first.file, "conn_id": first.conn_id,
               "wireshark_filter": first.wireshark_filter}
        if capture in self.pieces:
            out["evidence"] = [r.as_dict() for r in refs]
            if len(refs) > 1:
                out["wireshark_filter"] = f"spans {len(refs)} pieces: " + "; ".join(
                    f"{os.path.basename(r.file)}: {r.wireshark_filter}" for r in refs)
        return out

    def row(self, row: dict) -> dict:
        """A flat row of `http` or `sql` (report/tables.py) in its piece's numbers, with `file` and
        `evidence`, when its capture was read from pieces; unchanged otherwise."""
        cap = row["capture"]
        if cap not in self.pieces:
            return row
        cited = [f for k in ("request_frames", "response_frames") for f in (row[k] or ())]
        item = self.item(cap, row["conn_id"], cited)
        row.update(capture=item["capture"], conn_id=item["conn_id"], file=item["file"], evidence=item["evidence"])
        for k in ("request_frames", "response_frames"):
            row[k] = self.frames(cap, row[k])
        return row

    def tls(self, capture: int, session: dict) -> dict:
        """A TLS session's handshake frames and connection in its piece's numbers."""
        if capture not in self.pieces:
            return session
        item = self.item(capture, session["conn_id"], session["frames"])
        session.update(capture=item["capture"], conn_id=item["conn_id"], file=item["file"])
        session["frames"] = self.frames(capture, session["frames"])
        return session
