"""A real haproxy in TCP mode in front of the test MariaDB, as a TripleO database VIP is.

    with mariadb_server(tmp) as db, haproxy_vip(tmp, db, [("127.0.0.2", db.port)]) as vip:
        conn = pymysql.connect(**vip.connect_args(0))   # client → haproxy → MariaDB

Debian's haproxy, run in the foreground with its own config file in `base`:
`mode tcp`, `option mysql-check user hacheck post-41` (the check user is made
without a password, as haproxy's check logs in without one), one backend
server, the test MariaDB.  Each frontend is an (address, port) on loopback;
127.0.0.2:<the server's port> gives the usual VIP layout where both hops use
the same port number on different addresses.
"""

from __future__ import annotations

import contextlib
import pathlib
import socket
import subprocess
import time

from .loopback import need, stop_process

CHECK_USER = "hacheck"


class HaproxyVip:
    def __init__(self, db, fronts: list[tuple[str, int]]):
        self.db = db
        self.fronts = fronts

    def connect_args(self, front: int = 0, **kw) -> dict:
        host, port = self.fronts[front]
        return self.db.connect_args(host=host, port=port, **kw)


def _config(db, fronts, check_inter: float, timeout_client: float, timeout_server: float) -> str:
    binds = "\n".join(f"    bind {host}:{port}" for host, port in fronts)
    return f"""global
    maxconn 200

defaults
    mode tcp
    timeout connect 2s
    timeout client {int(timeout_client * 1000)}ms
    timeout server {int(timeout_server * 1000)}ms

listen mysql
{binds}
    option mysql-check user {CHECK_USER} post-41
    server db1 127.0.0.1:{db.port} check inter {int(check_inter * 1000)}ms
"""


def _make_check_user(db) -> None:
    import pymysql
    c = pymysql.connect(unix_socket=str(db.sock), user="root", password="")
    with c.cursor() as cur:
        cur.execute(f"CREATE USER IF NOT EXISTS '{CHECK_USER}'@'127.0.0.1'")
    c.close()


def _wait_listening(fronts, proc, deadline: float) -> None:
    for host, port in fronts:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("haproxy exited")
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
                break
            if time.time() > deadline:
                raise RuntimeError(f"haproxy does not listen on {host}:{port}")
            time.sleep(0.05)


@contextlib.contextmanager
def haproxy_vip(base, db, fronts: list[tuple[str, int]], check_inter: float = 0.25,
                timeout_client: float = 30.0, timeout_server: float = 30.0):
    """Run haproxy with these frontends in front of `db` while the block runs."""
    need("haproxy")
    base = pathlib.Path(base)
    base.mkdir(parents=True, exist_ok=True)
    _make_check_user(db)
    cfg = base / "haproxy.cfg"
    cfg.write_text(_config(db, fronts, check_inter, timeout_client, timeout_server))
    log = open(base / "haproxy.log", "wb")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait_listening(fronts, proc, time.time() + 15)
        yield HaproxyVip(db, fronts)
    finally:
        stop_process(proc)
        log.close()
