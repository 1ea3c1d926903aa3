"""HTTP/1.x: a sans-I/O decoder emitting one HttpTransaction per request/response pair."""

from .decoder import HttpDecoder
from .events import BodyInfo, HttpTransaction

__all__ = ["HttpDecoder", "HttpTransaction", "BodyInfo"]
