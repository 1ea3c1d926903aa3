"""MySQL / MariaDB client/server protocol decoder (sans-I/O)."""

from .decoder import MysqlDecoder
from .events import MysqlHandshake, SqlStatement

__all__ = ["MysqlDecoder", "MysqlHandshake", "SqlStatement"]
