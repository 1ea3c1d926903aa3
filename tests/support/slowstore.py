"""A real slow store on loopback: a small HTTP server on port 9292 that reads an image upload 4 KiB at a
time with a pause between reads, while the client PUTs it as fast as it can; recorded with tcpdump.

The client's writes fill the server's receive window and wait for it to read (Wireshark's "window
full"), the case tcp/window_full.py finds.  The server listens on 127.0.0.2 (127.0.0.1:9292 may be a
real Glance on the rig); Glance's port lets the whole report run on the capture.
"""

from __future__ import annotations

import socket
import threading
import time

from tests.support.loopback import tcpdump

HOST, PORT = "127.0.0.2", 9292
IMAGE_ID = "5a1c0c3e-7d2b-4e11-9c4f-51d0f0a7e5b1"
MSS = 1448  # an Ethernet-sized segment: loopback's 64 KiB one makes the window full and zero at once


def _serve(listener: socket.socket, chunk: int, pause: float) -> None:
    conn, _ = listener.accept()
    with conn:
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096)
        head, body = head.split(b"\r\n\r\n", 1)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        got = len(body)
        while got < length:  # the slow store: a little at a time
            got += len(conn.recv(min(chunk, length - got)))
            time.sleep(pause)
        conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.recv(100)


def record(path, size: int = 6 << 20, chunk: int = 4096, pause: float = 0.002) -> dict:
    """Record one slow upload of `size` bytes into `path`; returns what was sent."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, MSS)
    listener.bind((HOST, PORT))
    listener.listen(1)
    body = bytes(range(256)) * (size // 256)
    with listener, tcpdump(path, f"host {HOST} and tcp port {PORT}"):
        server = threading.Thread(target=_serve, args=(listener, chunk, pause), daemon=True)
        server.start()
        with socket.socket() as client:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, MSS)
            client.connect((HOST, PORT))
            client.sendall(f"PUT /v2/images/{IMAGE_ID}/file HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n"
                           "Content-Type: application/octet-stream\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            answer = client.recv(1000)
        server.join(30)
    return {"size": len(body), "answer": answer, "image_id": IMAGE_ID}
