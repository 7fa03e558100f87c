"""Gateway settings from environment variables (and command-line flags, which override them).

| variable | default | meaning |
|---|---|---|
| TAMS_HOST | 127.0.0.1 | bind address |
| TAMS_PORT | 8000 | bind port |
| TAMS_DATA_DIR | ./data | SQLite catalog, local objects, generated keys |
| TAMS_CATALOG | sqlite | catalog store: sqlite, vast (VAST DB, docs/VAST.md), vast-fake (tests only) |
| TAMS_VAST_ENDPOINT | (none) | VAST VIP pool URL for the catalog, e.g. http://vip-pool.example |
| TAMS_VAST_ACCESS_KEY / TAMS_VAST_SECRET_KEY | (none) | S3 keys of an identity with a Tabular identity policy |
| TAMS_VAST_BUCKET | (none) | the Database-enabled bucket (created by an admin in VMS) |
| TAMS_VAST_SCHEMA | tams | schema inside that bucket (created at start if missing) |
| TAMS_VAST_DATA_ENDPOINTS | (discovered) | comma list of data VIPs for selects |
| TAMS_VAST_SESSIONS | 8 | SDK sessions = worker threads for catalog calls |
| TAMS_PUBLIC_URL | (from the request) | externally visible base URL for Link headers, e.g. https://media.example/tams |
| TAMS_SERVICE_NAME | TAMS Gateway | /service name (until changed with POST /service) |
| TAMS_DEFAULT_LIMIT | 100 | page size when a client gives no limit |
| TAMS_MAX_LIMIT | 1000 | largest page a client can ask for |
| TAMS_MAX_BODY_BYTES | 16777216 | largest JSON request body |
| TAMS_SQLITE_READERS | min(4, cores - 1), at least 1 | reader threads (connections) for the SQLite catalog |
| TAMS_LOG_LEVEL | info | log level |
| TAMS_ALLOW_OPEN | false | allow serving without auth on a non-loopback address |
| TAMS_STORAGE_CONFIG | (none) | JSON file of storage backends (streaming/storage/registry.py); default: local disk |
| TAMS_PRESIGN_EXPIRY | 3600 | seconds presigned GET/PUT URLs stay valid |
| TAMS_OBJECT_TIMEOUT | 600 | seconds before never-registered allocations are removed (>= 300) |
| TAMS_DELIVERY_MODE | redirect | default of the delivery endpoints: redirect or proxy |
| TAMS_REQUIRE_ALLOCATION | true | refuse segments naming objects never allocated and without get_urls |
| TAMS_MAX_OBJECT_BYTES | 5368709120 | largest object uploaded to the local-disk store |
| TAMS_CORS_ORIGINS | (none) | browser origins allowed to call the gateway: comma list, or * |
| TAMS_WEBHOOKS_ALLOW_PRIVATE | false | let webhooks target loopback/private addresses (SSRF guard off) |
| TAMS_WEBHOOK_MAX_FAILURES | 5 | consecutive failed deliveries before a webhook goes to error |
| TAMS_WEBHOOK_BACKOFF | 0.5 | first retry delay in seconds (doubles each retry, with jitter, up to 30 s) |
| TAMS_EVENT_RETENTION | 86400 | seconds events stay in the outbox for /events resumption once delivered |
| TAMS_LIVE_WINDOW | 6 | segments in a live HLS playlist |
| TAMS_PLAYLIST_URIS | presigned | segment URIs in playlists: presigned, proxy or redirect |
| TAMS_PLAYLIST_CACHE_MB | 64 | MiB of finished (VOD) playlists kept in memory for their max-age; 0: none |
| TAMS_REMUX_CACHE_MB | 128 | MiB of remuxed (init) segments kept in memory, least recently used out; 0: none |
| TAMS_PROBE_ON_REGISTER | false | probe newly uploaded objects with PyAV at registration (key frames, duration) |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    catalog: str = "sqlite"
    public_url: str | None = None
    service_name: str = "TAMS Gateway"
    default_limit: int = 100
    max_limit: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    sqlite_readers: int = field(default_factory=lambda: default_readers())
    log_level: str = "info"
    allow_open: bool = False
    storage_config: Path | None = None
    presign_expiry: int = 3600
    object_timeout: int = 600
    delivery_mode: str = "redirect"
    require_allocation: bool = True
    max_object_bytes: int = 5 * 1024**3
    probe_on_register: bool = False
    live_window: int = 6
    playlist_uris: str = "presigned"
    playlist_cache_mb: int = 64
    remux_cache_mb: int = 128
    cors_origins: tuple[str, ...] = ()
    webhooks_allow_private: bool = False
    webhook_max_failures: int = 5
    webhook_backoff: float = 0.5
    event_retention: int = 86_400
    vast_endpoint: str | None = None
    vast_access_key: str | None = None
    vast_secret_key: str | None = None
    vast_bucket: str | None = None
    vast_schema: str = "tams"
    vast_data_endpoints: tuple[str, ...] = ()
    vast_sessions: int = 8

    @property
    def public_base_url(self) -> str:
        """Where clients reach this gateway: TAMS_PUBLIC_URL, else the bind address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


CATALOGS = ("sqlite", "vast", "vast-fake")


def check_catalog(settings: Settings) -> None:
    """The catalog choice is known and, for VAST, fully configured."""
    if settings.catalog not in CATALOGS:
        raise ValueError(f"TAMS_CATALOG={settings.catalog!r} must be one of {', '.join(CATALOGS)}")
    if settings.catalog == "vast":
        missing = [name for name, value in (("TAMS_VAST_ENDPOINT", settings.vast_endpoint),
                                            ("TAMS_VAST_ACCESS_KEY", settings.vast_access_key),
                                            ("TAMS_VAST_SECRET_KEY", settings.vast_secret_key),
                                            ("TAMS_VAST_BUCKET", settings.vast_bucket)) if not value]
        if missing:
            raise ValueError(f"TAMS_CATALOG=vast needs {', '.join(missing)}")


def default_readers() -> int:
    """Reader threads leave a core to the event loop: every sqlite3 call hands the GIL over, and more
    readers than spare cores measured slower (docs/PERFORMANCE.md: 1 reader 1,420-1,560 req/s, 4
    readers 880-1,170 on 2 cores)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} must be an integer") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r} must be >= {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"{name}={raw!r} must be true or false")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Reads TAMS_* variables; raises ValueError naming any bad value."""
    env = os.environ if env is None else env
    settings = Settings(
        host=env.get("TAMS_HOST", "127.0.0.1"),
        port=_int(env, "TAMS_PORT", 8000, minimum=0),
        data_dir=Path(env.get("TAMS_DATA_DIR", "data")),
        catalog=env.get("TAMS_CATALOG", "sqlite"),
        public_url=env.get("TAMS_PUBLIC_URL") or None,
        service_name=env.get("TAMS_SERVICE_NAME", "TAMS Gateway"),
        default_limit=_int(env, "TAMS_DEFAULT_LIMIT", 100),
        max_limit=_int(env, "TAMS_MAX_LIMIT", 1000),
        max_body_bytes=_int(env, "TAMS_MAX_BODY_BYTES", 16 * 1024 * 1024),
        sqlite_readers=_int(env, "TAMS_SQLITE_READERS", default_readers()),
        log_level=env.get("TAMS_LOG_LEVEL", "info"),
        allow_open=_bool(env, "TAMS_ALLOW_OPEN", False),
        storage_config=Path(env["TAMS_STORAGE_CONFIG"]) if env.get("TAMS_STORAGE_CONFIG") else None,
        presign_expiry=_int(env, "TAMS_PRESIGN_EXPIRY", 3600, minimum=60),
        object_timeout=_int(env, "TAMS_OBJECT_TIMEOUT", 600, minimum=300),
        delivery_mode=env.get("TAMS_DELIVERY_MODE", "redirect"),
        require_allocation=_bool(env, "TAMS_REQUIRE_ALLOCATION", True),
        max_object_bytes=_int(env, "TAMS_MAX_OBJECT_BYTES", 5 * 1024**3),
        probe_on_register=_bool(env, "TAMS_PROBE_ON_REGISTER", False),
        live_window=_int(env, "TAMS_LIVE_WINDOW", 6, minimum=3),
        playlist_uris=env.get("TAMS_PLAYLIST_URIS", "presigned"),
        playlist_cache_mb=_int(env, "TAMS_PLAYLIST_CACHE_MB", 64, minimum=0),
        remux_cache_mb=_int(env, "TAMS_REMUX_CACHE_MB", 128, minimum=0),
        webhooks_allow_private=_bool(env, "TAMS_WEBHOOKS_ALLOW_PRIVATE", False),
        webhook_max_failures=_int(env, "TAMS_WEBHOOK_MAX_FAILURES", 5),
        webhook_backoff=float(env.get("TAMS_WEBHOOK_BACKOFF", "0.5")),
        event_retention=_int(env, "TAMS_EVENT_RETENTION", 86_400, minimum=60),
        cors_origins=tuple(o.strip() for o in env.get("TAMS_CORS_ORIGINS", "").split(",") if o.strip()),
        vast_endpoint=env.get("TAMS_VAST_ENDPOINT") or None,
        vast_access_key=env.get("TAMS_VAST_ACCESS_KEY") or None,
        vast_secret_key=env.get("TAMS_VAST_SECRET_KEY") or None,
        vast_bucket=env.get("TAMS_VAST_BUCKET") or None,
        vast_schema=env.get("TAMS_VAST_SCHEMA", "tams"),
        vast_data_endpoints=tuple(e.strip() for e in env.get("TAMS_VAST_DATA_ENDPOINTS", "").split(",") if e.strip()),
        vast_sessions=_int(env, "TAMS_VAST_SESSIONS", 8),
    )
    if settings.playlist_uris not in ("presigned", "proxy", "redirect"):
        raise ValueError(f"TAMS_PLAYLIST_URIS={settings.playlist_uris!r} must be presigned, proxy or redirect")
    if settings.delivery_mode not in ("redirect", "proxy"):
        raise ValueError(f"TAMS_DELIVERY_MODE={settings.delivery_mode!r} must be redirect or proxy")
    check_catalog(settings)
    if settings.default_limit > settings.max_limit:
        raise ValueError("TAMS_DEFAULT_LIMIT must not exceed TAMS_MAX_LIMIT")
    return settings
