"""TLS: handshake facts for every connection, decryption with NSS key log secrets."""

from .decoder import TlsDecoder
from .events import TlsAlert, TlsSession
from .keylog import KeyLog

__all__ = ["TlsDecoder", "TlsSession", "TlsAlert", "KeyLog"]
