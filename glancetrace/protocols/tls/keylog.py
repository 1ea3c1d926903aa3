"""NSS key log (SSLKEYLOGFILE) secrets, from files and pcapng decryption-secrets blocks.

The pipeline owns the key log: it loads the files, then the pcapng secrets as the
capture reader meets them, before the packets that follow them."""

from __future__ import annotations


class KeyLog:
    """label → client_random → secret.  Lines look like `LABEL <client_random hex> <secret hex>`."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[bytes, bytes]] = {}
        self.bad_lines = 0

    def load_file(self, path: str) -> None:
        with open(path, "rb") as f:
            self.load_text(f.read())

    def load_text(self, text: bytes) -> None:
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith(b"#"):
                continue
            parts = line.split()
            if len(parts) != 3:
                self.bad_lines += 1
                continue
            try:
                label = parts[0].decode("ascii")
                cr, secret = bytes.fromhex(parts[1].decode()), bytes.fromhex(parts[2].decode())
            except ValueError:
                self.bad_lines += 1
                continue
            self.secrets.setdefault(label, {})[cr] = secret

    def get(self, label: str, client_random: bytes) -> bytes | None:
        return self.secrets.get(label, {}).get(client_random)

    def __len__(self) -> int:
        return sum(len(v) for v in self.secrets.values())
