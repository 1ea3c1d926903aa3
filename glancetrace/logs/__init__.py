"""Log files beside the capture: haproxy, oslo.log (Glance, Keystone), uWSGI and Apache request logs,
keystoneauth's --debug output, MariaDB's error log.

Like the protocol decoders, the parsers are sans-I/O (a line in, typed records out, counts kept);
`reader` is the only module that opens files.  Nothing here knows about captures.
"""

from .records import LogMessage, LogRequest, ParseStats

__all__ = ["LogMessage", "LogRequest", "ParseStats"]
