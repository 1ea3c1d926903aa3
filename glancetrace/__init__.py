"""glancetrace: what really happened to Glance image uploads, read from a packet capture."""

__version__ = "0.1.0"
