"""OpenStack meaning of decoded traffic: Keystone and Glance API calls, Glance SQL, secret redaction."""

from .services import ServiceMap, classify_http, service_of
from .glance_api import GlanceCall, ImageInfo, PatchOp
from .glance_sql import GlanceSql, SqlMeaning, StatusChange, TransactionTracker, interpret, meaning_of
from .keystone import Endpoint, KeystoneCall, endpoints_by_service, service_ports

__all__ = [
    "ServiceMap", "classify_http", "service_of", "GlanceCall", "ImageInfo", "PatchOp", "GlanceSql", "SqlMeaning",
    "StatusChange", "TransactionTracker", "interpret", "meaning_of", "Endpoint", "KeystoneCall",
    "endpoints_by_service", "service_ports",
]
