"""A real, throw-away MariaDB server for tests (Debian's mariadb-server).

    with mariadb_server(tmp_path, ssl=True) as db:
        conn = pymysql.connect(**db.connect_args())
        ...
        db.general_log()  # [(thread_id, command, argument), ...]

Its own datadir made by mariadb-install-db, a free port on 127.0.0.1, the
general query log written to a file.  Runs as root too (CI): the server is
told `--user=root`, which mariadbd accepts when asked explicitly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

from .loopback import free_port, need

USER, PASSWORD = "gt", "gtpw"


class MariaDB:
    def __init__(self, base: pathlib.Path, ssl: bool, extra: tuple[str, ...] = ()):
        self.base = pathlib.Path(base)
        self.datadir = self.base / "data"
        self.sock = self.base / "mysqld.sock"
        self.log = self.base / "general.log"
        self.err = self.base / "mysqld.err"
        self.port = free_port()
        self.ssl = ssl
        self.extra = tuple(extra)  # more mariadbd options (e.g. the slow query log's)
        self.proc: subprocess.Popen | None = None

    # -- life cycle --------------------------------------------------------------

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        user = ["--user=root"] if os.geteuid() == 0 else []
        inst = subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", *user,
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            capture_output=True, text=True)
        if inst.returncode:
            raise RuntimeError(f"mariadb-install-db failed: {inst.stdout[-2000:]}{inst.stderr[-2000:]}")
        args = [shutil.which("mariadbd") or "/usr/sbin/mariadbd", "--no-defaults",
                f"--datadir={self.datadir}", f"--socket={self.sock}", f"--port={self.port}",
                "--bind-address=127.0.0.1", f"--pid-file={self.base / 'mysqld.pid'}",
                f"--log-error={self.err}", "--general-log=1", f"--general-log-file={self.log}",
                "--log-output=FILE", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
                "--character-set-server=utf8mb4", "--max-allowed-packet=64M", *user, *self.extra]
        if self.ssl:
            cert, key = self._make_cert()
            args += [f"--ssl-cert={cert}", f"--ssl-key={key}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {self.err.read_text(errors='replace')[-3000:]}")
            if self.sock.exists():
                try:
                    self._bootstrap()
                    return
                except Exception:  # not accepting yet
                    pass
            time.sleep(0.2)
        raise RuntimeError("mariadbd did not come up")

    def _bootstrap(self) -> None:
        import pymysql
        c = pymysql.connect(unix_socket=str(self.sock), user="root", password="")
        with c.cursor() as cur:
            cur.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"GRANT ALL ON *.* TO '{USER}'@'127.0.0.1'")
            cur.execute("CREATE DATABASE IF NOT EXISTS gt")
        c.close()

    def _make_cert(self) -> tuple[pathlib.Path, pathlib.Path]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
                .sign(key, hashes.SHA256()))
        cpath, kpath = self.base / "cert.pem", self.base / "key.pem"
        cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        kpath.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        return cpath, kpath

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # -- helpers for tests ---------------------------------------------------------

    def connect_args(self, **kw) -> dict:
        args = dict(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, database="gt")
        args.update(kw)
        return args

    def log_offset(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def general_log(self, since: int = 0) -> list[tuple[int, str, str]]:
        """(thread id, command, argument) of each general-log entry written after offset `since`.

        Arguments can span lines; an entry starts with an optional timestamp,
        then a thread id and a command word, separated by tabs.
        """
        with open(self.log, "rb") as f:
            f.seek(since)
            raw = f.read().decode("utf-8", "replace")
        head = re.compile(r"^(?:\d{6}\s+\d{1,2}:\d{2}:\d{2})?\s+(\d+) (\w+(?: \w+)?)\t?(.*)$")
        out: list[list] = []
        for line in raw.split("\n"):
            m = head.match(line)
            if m and m.group(2) in _LOG_COMMANDS:
                out.append([int(m.group(1)), m.group(2), m.group(3)])
            elif out:
                out[-1][2] += "\n" + line
        if out and out[-1][2].endswith("\n"):
            out[-1][2] = out[-1][2][:-1]
        return [tuple(e) for e in out]


_LOG_COMMANDS = {"Connect", "Quit", "Query", "Prepare", "Execute", "Close stmt", "Reset stmt",
                 "Init DB", "Field List", "Ping", "Statistics", "Change user", "Set option",
                 "Long Data", "Fetch", "Refresh", "Processlist", "Kill", "Debug", "Shutdown",
                 "Reset connection", "Bulk_execute"}


@contextlib.contextmanager
def mariadb_server(base, ssl: bool = False, extra: tuple[str, ...] = ()):
    need("mariadbd", "mariadb-install-db")
    db = MariaDB(base, ssl, extra)
    try:
        db.start()
        yield db
    finally:
        db.stop()
