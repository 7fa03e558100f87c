"""Authentication and coarse authorisation (TAMS ADR 0028, AppNote 0016) as one ASGI middleware.

Methods, any combination of which may be enabled:
- HTTP Basic against users with scrypt-hashed passwords (``TAMS_AUTH_USERS_FILE``);
- static bearer tokens (``TAMS_AUTH_TOKENS_FILE``), also accepted as ``?access_token=``;
- JWTs issued by the built-in OAuth2 client-credentials endpoint ``POST /oauth/token``
  (``TAMS_AUTH_OAUTH2_CLIENTS_FILE``, HS256 with ``TAMS_AUTH_JWT_SECRET`` or a generated key);
- JWTs from an external OIDC issuer verified with its JWKS (``TAMS_AUTH_OIDC_*``).

Scopes (AppNote 0016's table, ``allowed_scopes``): ``tams-api/read`` (GET/HEAD), ``tams-api/write``
(POST/PUT, and DELETE of a property), ``tams-api/delete`` (DELETE), ``tams-api/admin`` (everything),
with the AppNote's exceptions: ``/`` and ``/service`` readable with any scope, ``POST /service`` and
the deletion-request list admin only, webhook PUT/DELETE with read, a deletion request with delete.
No credentials or bad ones → 401 with ``WWW-Authenticate``; a missing scope → 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import sys
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.credentials import CredentialLimits, PasswordChecker, RateLimited, hash_password
from gateway.credentials import verify_password as verify_password  # re-exported: the hashing lives there
from gateway.errors import error_response
from streaming.storage.keys import load_or_create_secret

READ, WRITE, DELETE, ADMIN = "tams-api/read", "tams-api/write", "tams-api/delete", "tams-api/admin"
ALL_SCOPES = frozenset({READ, WRITE, DELETE, ADMIN})
ISSUER = "tams-gateway"
METRICS_PATH = "/metrics"
METRICS_AUTH = ("open", "token", "api")


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[str]
    groups: frozenset[str] = frozenset()  # for fine-grained permissions (gateway.access)


ANONYMOUS = Principal("anonymous", ALL_SCOPES)


@dataclass(frozen=True)
class BasicUser:
    password_hash: str
    scopes: frozenset[str] = ALL_SCOPES
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OAuthClient:
    secret_hash: str
    scopes: frozenset[str] = ALL_SCOPES
    groups: frozenset[str] = frozenset()


# -- settings -------------------------------------------------------------------------------------------
def _scopes(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return ALL_SCOPES
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"{where}: scopes must be a list of strings")
    unknown = set(value) - ALL_SCOPES
    if unknown:
        raise ValueError(f"{where}: unknown scopes {sorted(unknown)}")
    return frozenset(value)


def _groups(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise ValueError(f"{where}: groups must be a list of strings")
    return frozenset(value)


def _token_entry(value: Any) -> tuple[Any, Any]:
    """A tokens-file value: a list of scopes, or ``{"scopes": [...], "groups": [...]}``."""
    return (value.get("scopes"), value.get("groups")) if isinstance(value, dict) else (value, None)


def _json_file(env: Mapping[str, str], name: str) -> dict[str, Any]:
    path = env.get(name)
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{name}={path}: cannot read JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name}={path}: expected a JSON object")
    return data


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r} must be a positive integer")
    return int(raw)


@dataclass(frozen=True)
class AuthSettings:
    basic_users: Mapping[str, BasicUser] = field(default_factory=dict)
    static_tokens: Mapping[str, frozenset[str]] = field(default_factory=dict)
    oauth2_clients: Mapping[str, OAuthClient] = field(default_factory=dict)
    jwt_secret: bytes | None = None
    token_lifetime_s: int = 3600
    oidc_issuer: str | None = None
    oidc_jwks_url: str | None = None
    oidc_audience: str | None = None
    scope_claim: str = "scope"
    limits: CredentialLimits = CredentialLimits()
    metrics_auth: str = "api"  # "open" | "token" | "api" (matters only when authentication is on)
    metrics_token: str | None = None
    token_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    groups_claim: str = "groups"

    @property
    def enabled(self) -> bool:
        return bool(self.basic_users or self.static_tokens or self.oauth2_clients or self.oidc_jwks_url)

    def schemes(self) -> list[str]:
        schemes = []
        if self.static_tokens or self.oauth2_clients or self.oidc_jwks_url:
            schemes.append('Bearer realm="tams"')
        if self.basic_users:
            schemes.append('Basic realm="tams"')
        return schemes

    @classmethod
    def from_env(cls, env: Mapping[str, str], data_dir: Path) -> AuthSettings:
        users = {
            name: BasicUser(
                str(entry["password_hash"]),
                _scopes(entry.get("scopes"), f"user {name}"),
                _groups(entry.get("groups"), f"user {name}"),
            )
            for name, entry in _json_file(env, "TAMS_AUTH_USERS_FILE").items()
        }
        token_entries = {token: _token_entry(v) for token, v in _json_file(env, "TAMS_AUTH_TOKENS_FILE").items()}
        tokens = {token: _scopes(scopes, "TAMS_AUTH_TOKENS_FILE") for token, (scopes, _) in token_entries.items()}
        token_groups = {token: _groups(g, "TAMS_AUTH_TOKENS_FILE") for token, (_, g) in token_entries.items()}
        clients = {
            client_id: OAuthClient(
                str(entry["secret_hash"]),
                _scopes(entry.get("scopes"), f"client {client_id}"),
                _groups(entry.get("groups"), f"client {client_id}"),
            )
            for client_id, entry in _json_file(env, "TAMS_AUTH_OAUTH2_CLIENTS_FILE").items()
        }
        secret = env.get("TAMS_AUTH_JWT_SECRET")
        jwt_secret = secret.encode() if secret else None
        if jwt_secret is None and clients:
            jwt_secret = load_or_create_secret(data_dir / "jwt-secret")
        if (env.get("TAMS_AUTH_OIDC_JWKS_URL") is None) != (env.get("TAMS_AUTH_OIDC_ISSUER") is None):
            raise ValueError("TAMS_AUTH_OIDC_ISSUER and TAMS_AUTH_OIDC_JWKS_URL must be set together")
        lifetime = env.get("TAMS_AUTH_TOKEN_LIFETIME", "3600")
        if not lifetime.isdigit() or int(lifetime) < 1:
            raise ValueError(f"TAMS_AUTH_TOKEN_LIFETIME={lifetime!r} must be a positive integer of seconds")
        metrics_auth = env.get("TAMS_METRICS_AUTH", "api")
        if metrics_auth not in METRICS_AUTH:
            raise ValueError(f"TAMS_METRICS_AUTH={metrics_auth!r} must be one of {', '.join(METRICS_AUTH)}")
        if metrics_auth == "token" and not env.get("TAMS_METRICS_TOKEN"):
            raise ValueError("TAMS_METRICS_AUTH=token needs TAMS_METRICS_TOKEN")
        limits = CredentialLimits(
            failures_per_minute=_positive(env, "TAMS_AUTH_FAILURES_PER_MINUTE", 10),
            concurrency=_positive(env, "TAMS_AUTH_SCRYPT_CONCURRENCY", 2),
        )
        return cls(
            users,
            tokens,
            clients,
            jwt_secret,
            int(lifetime),
            env.get("TAMS_AUTH_OIDC_ISSUER"),
            env.get("TAMS_AUTH_OIDC_JWKS_URL"),
            env.get("TAMS_AUTH_OIDC_AUDIENCE"),
            env.get("TAMS_AUTH_SCOPE_CLAIM", "scope"),
            limits,
            metrics_auth,
            env.get("TAMS_METRICS_TOKEN"),
            token_groups,
            env.get("TAMS_AUTH_GROUPS_CLAIM", "groups"),
        )


# -- authorisation rule --------------------------------------------------------------------------------
_EVERY = ALL_SCOPES
_ONLY_ADMIN = frozenset({ADMIN})
_ID = r"[^/]+"
# AppNote 0016's rows that do not follow read → GET/HEAD, write → POST/PUT, delete → DELETE
_EXCEPTIONS: tuple[tuple[re.Pattern[str], frozenset[str], frozenset[str]], ...] = tuple(
    (re.compile(pattern), frozenset(methods), scopes | _ONLY_ADMIN)
    for pattern, methods, scopes in (
        (r"", {"GET", "HEAD"}, _EVERY),
        (r"/service", {"GET", "HEAD"}, _EVERY),
        (r"/service", {"POST"}, _ONLY_ADMIN),
        (r"/service/storage-backends", {"GET", "HEAD"}, _EVERY),
        (rf"/service/webhooks/{_ID}", {"PUT", "DELETE"}, frozenset({READ})),
        (rf"/(sources|flows)/{_ID}/(tags/[^/]+|label|description)", {"DELETE"}, frozenset({WRITE})),
        (rf"/flows/{_ID}/(flow_collection|max_bit_rate|avg_bit_rate)", {"DELETE"}, frozenset({WRITE})),
        (rf"/objects/{_ID}/instances", {"POST", "DELETE"}, frozenset({WRITE})),
        (r"/flow-delete-requests", {"GET", "HEAD"}, _ONLY_ADMIN),
        (rf"/flow-delete-requests/{_ID}", {"GET", "HEAD"}, frozenset({DELETE})),
    )
)
_BASIC = {"GET": READ, "HEAD": READ, "POST": WRITE, "PUT": WRITE, "DELETE": DELETE}


def allowed_scopes(method: str, path: str) -> frozenset[str]:
    """The scopes any one of which lets a request through (AppNote 0016's table; admin is always one)."""
    path = path.rstrip("/")
    for pattern, methods, scopes in _EXCEPTIONS:
        if method in methods and pattern.fullmatch(path):
            return scopes
    return frozenset({_BASIC.get(method, WRITE), ADMIN})


def permits(principal: Principal, allowed: frozenset[str]) -> bool:
    return not principal.scopes.isdisjoint(allowed)


# -- credential checks ---------------------------------------------------------------------------------
class _Unauthenticated(Exception):
    pass


class Authenticator:
    """Checks credentials against settings; passwords through a rationing ``PasswordChecker``."""

    def __init__(self, settings: AuthSettings, passwords: PasswordChecker) -> None:
        self.settings = settings
        self.passwords = passwords
        self._jwks = jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True) if settings.oidc_jwks_url else None

    async def basic(self, encoded: str, address: str) -> Principal:
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise _Unauthenticated("malformed Basic credentials") from None
        user = self.settings.basic_users.get(username)
        if not await self.passwords.check(address, f"user:{username}", password, user.password_hash if user else None):
            raise _Unauthenticated("unknown user or wrong password")
        assert user is not None
        return Principal(username, user.scopes, user.groups)

    async def bearer(self, token: str) -> Principal:
        for known, scopes in self.settings.static_tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                name = f"token:{hashlib.sha256(token.encode()).hexdigest()[:8]}"
                return Principal(name, scopes, self.settings.token_groups.get(known, frozenset()))
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _Unauthenticated("the bearer token is not a known token or a JWT") from None
        if header.get("alg") == "HS256" and self.settings.jwt_secret:
            return self._claims_principal(self._decode(token, self.settings.jwt_secret, ["HS256"], ISSUER, None))
        if self._jwks is not None and header.get("alg") in ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256"):
            try:
                key = await anyio.to_thread.run_sync(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWTError as exc:
                raise _Unauthenticated(f"cannot find the token's signing key: {exc}") from None
            claims = self._decode(
                token, key.key, [header["alg"]], self.settings.oidc_issuer, self.settings.oidc_audience
            )
            return self._claims_principal(claims)
        raise _Unauthenticated("the bearer token's algorithm or issuer is not accepted")

    def _decode(
        self, token: str, key: Any, algorithms: list[str], issuer: str | None, audience: str | None
    ) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                options={"require": ["exp"], "verify_aud": audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise _Unauthenticated(f"invalid token: {exc}") from None

    def _claims_principal(self, claims: Mapping[str, Any]) -> Principal:
        raw = claims.get(self.settings.scope_claim, "")
        scopes = raw.split() if isinstance(raw, str) else [s for s in raw if isinstance(s, str)]
        raw_groups = claims.get(self.settings.groups_claim, [])
        if isinstance(raw_groups, str):
            raw_groups = raw_groups.split()
        groups = [g for g in raw_groups if isinstance(g, str)] if isinstance(raw_groups, list) else []
        return Principal(str(claims.get("sub", "jwt")), frozenset(scopes) & ALL_SCOPES, frozenset(groups))


# -- middleware ------------------------------------------------------------------------------------------
class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: AuthSettings,
        public_paths: Collection[str] = (
            "/healthz",
            "/readyz",
            "/oauth/token",
            "/player",
            "/player/hls.min.js",
            "/player/dash.all.min.js",
        ),
        public_prefixes: tuple[str, ...] = ("/_store/",),
        passwords: PasswordChecker | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.public_paths = frozenset(public_paths) | ({METRICS_PATH} if settings.metrics_auth == "open" else set())
        # URLs that carry their own proof (the local store's signed URLs) need no credentials
        self.public_prefixes = public_prefixes
        self.authenticator = Authenticator(settings, passwords or PasswordChecker(settings.limits))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if not self.settings.enabled:
            state["principal"] = ANONYMOUS
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in self.public_paths or path.startswith(self.public_prefixes) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if path == METRICS_PATH and self.settings.metrics_auth == "token":
            await self._metrics_token(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope)
        except _Unauthenticated as exc:
            headers = {"WWW-Authenticate": ", ".join(self.settings.schemes())}
            await self._reject(scope, receive, send, 401, f"authentication required: {exc}", headers)
            return
        except RateLimited as exc:
            headers = {"Retry-After": str(exc.retry_after_s)}
            await self._reject(scope, receive, send, 429, str(exc), headers)
            return
        allowed = allowed_scopes(scope["method"], scope["path"])
        if not permits(principal, allowed):
            needed = " or ".join(sorted(allowed))
            await self._reject(scope, receive, send, 403, f"{principal.name} lacks a needed scope: {needed}")
            return
        state["principal"] = principal
        await self.app(scope, receive, send)

    async def _metrics_token(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/metrics`` behind its own bearer token (TAMS_METRICS_AUTH=token), apart from API credentials."""
        kind, _, credentials = _authorization(scope).partition(" ")
        expected = (self.settings.metrics_token or "").encode()
        if kind.lower() == "bearer" and expected and hmac.compare_digest(credentials.strip().encode(), expected):
            await self.app(scope, receive, send)
            return
        headers = {"WWW-Authenticate": 'Bearer realm="tams-metrics"'}
        await self._reject(scope, receive, send, 401, "authentication required: the metrics token", headers)

    async def _authenticate(self, scope: Scope) -> Principal:
        kind, _, credentials = _authorization(scope).partition(" ")
        if kind.lower() == "basic" and self.settings.basic_users:
            client = scope.get("client")
            return await self.authenticator.basic(credentials.strip(), client[0] if client else "")
        if kind.lower() == "bearer" and credentials.strip():
            return await self.authenticator.bearer(credentials.strip())
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "access_token" in query:
            return await self.authenticator.bearer(query["access_token"][0])
        raise _Unauthenticated("no credentials")

    async def _reject(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        summary: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        response = error_response(status, summary, headers=headers)
        if scope["method"] == "HEAD":
            response.body = b""
        await response(scope, receive, send)


def _authorization(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return value.decode("latin-1")
    return ""


def authenticated(request: Request) -> bool:
    """Whether this request came with credentials that were checked (so its answer is per client)."""
    principal = request.scope.get("state", {}).get("principal")
    return principal is not None and principal is not ANONYMOUS


def cache_control(request: Request, directives: str) -> str:
    """``directives`` for an open gateway; ``private`` (never ``public``) for an authenticated request,
    so no shared cache hands what one client may read to another."""
    if not authenticated(request):
        return directives
    kept = [d.strip() for d in directives.split(",") if d.strip() and d.strip() not in ("public", "private")]
    return ", ".join(["private", *kept])


# -- built-in OAuth2 client-credentials token endpoint -----------------------------------------------------
def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps({"error": error, "error_description": description})
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


async def token_endpoint(request: Request) -> Response:
    """OAuth2 client-credentials token endpoint (RFC 6749 §4.4) issuing HS256 JWTs."""
    settings: AuthSettings = request.app.state.auth_settings
    if not settings.oauth2_clients or not settings.jwt_secret:
        return _oauth_error(404, "unsupported", "this gateway has no OAuth2 clients configured")
    form = await request.form()
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    kind, _, encoded = request.headers.get("authorization", "").partition(" ")
    if kind.lower() == "basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            client_id = client_secret = None
    client = settings.oauth2_clients.get(str(client_id)) if client_id else None
    passwords: PasswordChecker = request.app.state.passwords
    address = request.client.host if request.client else ""
    try:
        verified = isinstance(client_secret, str) and await passwords.check(
            address, f"client:{client_id}", client_secret, client.secret_hash if client else None
        )
    except RateLimited as exc:
        return _oauth_error(429, "slow_down", str(exc), {"Retry-After": str(exc.retry_after_s)})
    if client is None or not verified:
        return _oauth_error(
            401, "invalid_client", "unknown client or wrong secret", {"WWW-Authenticate": 'Basic realm="tams"'}
        )
    requested = str(form.get("scope") or "").split()
    scopes = frozenset(requested) if requested else client.scopes
    if not scopes <= client.scopes:
        return _oauth_error(400, "invalid_scope", f"allowed scopes: {' '.join(sorted(client.scopes))}")
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": ISSUER,
            "sub": str(client_id),
            "scope": " ".join(sorted(scopes)),
            "iat": now,
            "exp": now + settings.token_lifetime_s,
            **({settings.groups_claim: sorted(client.groups)} if client.groups else {}),
        },
        settings.jwt_secret,
        algorithm="HS256",
    )
    return Response(
        json.dumps(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": settings.token_lifetime_s,
                "scope": " ".join(sorted(scopes)),
            }
        ),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["hash-password"]:
        print("usage: python -m gateway.auth hash-password", file=sys.stderr)
        sys.exit(2)
    import getpass

    print(hash_password(getpass.getpass("password: ")))
