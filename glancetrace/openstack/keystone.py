"""Keystone (identity v3) calls: version discovery, token issue, token validation by services, failures.

Tokens are never kept: only their fingerprints (see redact.fingerprint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

from glancetrace.protocols.http.events import HttpTransaction

from .rest import error_reason, split_target
from .redact import fingerprint


@dataclass(frozen=True)
class Endpoint:
    service_type: str
    service_name: str
    interface: str  # public / internal / admin
    region: str
    url: str
    scheme: str
    host: str
    port: int


@dataclass
class KeystoneCall:
    tx: HttpTransaction
    action: str  # versions | version | token_issue | token_validate | token_check | token_revoke | catalog | other
    method: str | None
    path: str
    status: int | None
    ok: bool | None  # None: no response seen
    auth_methods: list[str] = field(default_factory=list)
    user_name: str | None = None
    user_id: str | None = None
    user_domain: str | None = None
    scope: str | None = None  # project | domain | system | trust | unscoped
    project_name: str | None = None
    project_id: str | None = None
    project_domain: str | None = None
    domain_name: str | None = None
    roles: list[str] = field(default_factory=list)
    issued_at: str | None = None
    expires_at: str | None = None
    audit_ids: list[str] = field(default_factory=list)
    catalog: list[Endpoint] = field(default_factory=list)
    subject_token: str | None = None  # fingerprint of the issued / validated token
    auth_token: str | None = None  # fingerprint of the caller's X-Auth-Token (the service's own token)
    error_title: str | None = None
    error_message: str | None = None
    versions: list[str] = field(default_factory=list)
    summary: str = ""


def is_keystone_path(path: str) -> bool:
    return path.startswith("/v3") or path.startswith("/v2.0") or "/identity/" in path or path.endswith("/identity")


def _sub(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _endpoints(catalog: Any) -> list[Endpoint]:
    out = []
    if not isinstance(catalog, list):
        return out
    for svc in catalog:
        if not isinstance(svc, dict):
            continue
        for ep in svc.get("endpoints") or []:
            if not isinstance(ep, dict) or not isinstance(ep.get("url"), str):
                continue
            try:  # a malformed URL ("http://[x", a port out of range) names no endpoint
                u = urlsplit(ep["url"])
                port = u.port or (443 if u.scheme == "https" else 80)
            except ValueError:
                continue
            out.append(
                Endpoint(
                    service_type=str(svc.get("type") or ""),
                    service_name=str(svc.get("name") or ""),
                    interface=str(ep.get("interface") or ""),
                    region=str(ep.get("region_id") or ep.get("region") or ""),
                    url=ep["url"],
                    scheme=u.scheme,
                    host=u.hostname or "",
                    port=port,
                )
            )
    return out


def _fill_from_token(call: KeystoneCall, token: Any) -> None:
    if not isinstance(token, dict):
        return
    call.auth_methods = list(token.get("methods") or call.auth_methods)
    call.user_name = _sub(token, "user", "name") or call.user_name
    call.user_id = _sub(token, "user", "id")
    call.user_domain = _sub(token, "user", "domain", "name") or call.user_domain
    call.issued_at = token.get("issued_at")
    call.expires_at = token.get("expires_at")
    call.audit_ids = list(token.get("audit_ids") or [])
    call.roles = [r.get("name") for r in token.get("roles") or [] if isinstance(r, dict)]
    if isinstance(token.get("project"), dict):
        call.scope = "project"
        call.project_name = _sub(token, "project", "name")
        call.project_id = _sub(token, "project", "id")
        call.project_domain = _sub(token, "project", "domain", "name")
    elif isinstance(token.get("domain"), dict):
        call.scope = "domain"
        call.domain_name = _sub(token, "domain", "name")
    elif token.get("system"):
        call.scope = "system"
    elif token.get("OS-TRUST:trust"):
        call.scope = "trust"
    elif call.scope is None:
        call.scope = "unscoped"
    call.catalog = _endpoints(token.get("catalog"))


def _fill_from_auth_request(call: KeystoneCall, body: Any) -> None:
    auth = _sub(body, "auth")
    if not isinstance(auth, dict):
        return
    ident = auth.get("identity") or {}
    call.auth_methods = list(ident.get("methods") or [])
    user = _sub(ident, "password", "user") or {}
    if isinstance(user, dict):
        call.user_name = user.get("name") or user.get("id")
        call.user_domain = _sub(user, "domain", "name") or _sub(user, "domain", "id")
    appcred = ident.get("application_credential")
    if isinstance(appcred, dict):
        call.user_name = call.user_name or _sub(appcred, "user", "name")
    scope = auth.get("scope")
    if isinstance(scope, dict):
        if "project" in scope:
            call.scope = "project"
            call.project_name = _sub(scope, "project", "name") or _sub(scope, "project", "id")
            call.project_domain = _sub(scope, "project", "domain", "name") or _sub(scope, "project", "domain", "id")
        elif "domain" in scope:
            call.scope = "domain"
            call.domain_name = _sub(scope, "domain", "name") or _sub(scope, "domain", "id")
        elif "system" in scope:
            call.scope = "system"
        elif "OS-TRUST:trust" in scope:
            call.scope = "trust"
    elif scope == "unscoped":
        call.scope = "unscoped"


def classify(tx: HttpTransaction) -> KeystoneCall:
    """What a request to Keystone did. Never raises."""
    path, _query = split_target(tx.uri)
    method = (tx.method or "").upper()
    status = tx.status
    ok = None if status is None else status < 400
    # Strip a path prefix (/identity/v3/… behind a proxy) so matching is on the API part.
    api = path
    for marker in ("/v3", "/v2.0"):
        i = path.find(marker)
        if i >= 0:
            api = path[i:]
            break
    call = KeystoneCall(tx=tx, action="other", method=tx.method, path=path, status=status, ok=ok)
    req_json = tx.request_body.json
    resp_json = tx.response_body.json
    auth_tok = tx.header("x-auth-token")
    call.auth_token = fingerprint(auth_tok) if auth_tok else None

    if api.rstrip("/") in ("/v3/auth/tokens", "/v2.0/tokens"):
        if method == "POST":
            call.action = "token_issue"
            _fill_from_auth_request(call, req_json)
            _fill_from_token(call, _sub(resp_json, "token"))
            subj = tx.header("x-subject-token", response=True)
            call.subject_token = fingerprint(subj) if subj else None
        elif method in ("GET", "HEAD", "DELETE"):
            call.action = {"GET": "token_validate", "HEAD": "token_check", "DELETE": "token_revoke"}[method]
            subj = tx.header("x-subject-token")
            call.subject_token = fingerprint(subj) if subj else None
            _fill_from_token(call, _sub(resp_json, "token"))
    elif api.rstrip("/") in ("/v3/auth/catalog", "/v3/catalog"):
        call.action = "catalog"
        call.catalog = _endpoints(_sub(resp_json, "catalog"))
    elif method == "GET" and (api.rstrip("/") in ("", "/v3", "/v2.0") or path == "/"):
        call.action = "version" if api.rstrip("/") in ("/v3", "/v2.0") else "versions"
        call.versions = _version_ids(resp_json)

    if ok is False:
        call.error_title, call.error_message = error_reason(tx)
    call.summary = _summarise(call)
    return call


def _version_ids(body: Any) -> list[str]:
    if isinstance(_sub(body, "version"), dict):
        return [str(body["version"].get("id"))]
    vs = _sub(body, "versions", "values") or _sub(body, "versions")
    if isinstance(vs, list):
        return [str(v.get("id")) for v in vs if isinstance(v, dict)]
    return []


def _who(call: KeystoneCall) -> str:
    parts = []
    if call.user_name:
        parts.append(f"user {call.user_name}" + (f"@{call.user_domain}" if call.user_domain else ""))
    if call.scope == "project" and call.project_name:
        parts.append(f"project {call.project_name}")
    elif call.scope == "domain" and call.domain_name:
        parts.append(f"domain {call.domain_name}")
    elif call.scope:
        parts.append(call.scope)
    return " ".join(parts)


def _summarise(call: KeystoneCall) -> str:
    st = "no response" if call.status is None else str(call.status)
    err = f" ({call.error_message})" if call.error_message else ""
    if call.action == "token_issue":
        meth = "+".join(call.auth_methods) or "?"
        tok = f" token {call.subject_token}" if call.subject_token else ""
        exp = f", expires {call.expires_at}" if call.expires_at else ""
        return f"issue token ({meth}) for {_who(call) or '?'} → {st}{tok}{exp}{err}"
    if call.action in ("token_validate", "token_check", "token_revoke"):
        verb = {"token_validate": "validate", "token_check": "check", "token_revoke": "revoke"}[call.action]
        who = _who(call)
        return f"{verb} token {call.subject_token or '?'}" + (f" ({who})" if who else "") + f" → {st}{err}"
    if call.action in ("versions", "version"):
        v = ", ".join(call.versions[:3])
        return f"identity version discovery {call.path} → {st}" + (f" [{v}]" if v else "") + err
    if call.action == "catalog":
        return f"catalog ({len(call.catalog)} endpoints) → {st}{err}"
    return f"identity {call.method} {call.path} → {st}{err}"


def endpoints_by_service(calls_or_endpoints: Iterable[Any]) -> dict[str, list[tuple[str, str, str, int]]]:
    """{service_type: [(interface, url, host, port)]} from the catalogs seen (deduplicated, first-seen order).

    Accepts KeystoneCall objects and/or Endpoint objects.
    """
    out: dict[str, list[tuple[str, str, str, int]]] = {}
    seen = set()
    for item in calls_or_endpoints:
        eps = item.catalog if isinstance(item, KeystoneCall) else [item] if isinstance(item, Endpoint) else []
        for ep in eps:
            row = (ep.interface, ep.url, ep.host, ep.port)
            if (ep.service_type, row) in seen:
                continue
            seen.add((ep.service_type, row))
            out.setdefault(ep.service_type, []).append(row)
    return out


def service_ports(calls_or_endpoints: Iterable[Any]) -> dict[int, str]:
    """port → service type ('identity', 'image', 'object-store', …) as the catalog says."""
    out: dict[int, str] = {}
    for stype, rows in endpoints_by_service(calls_or_endpoints).items():
        for _iface, _url, _host, port in rows:
            out.setdefault(port, stype)
    return out
