"""Gateway settings from environment variables (and command-line flags, which override them).

| variable | default | meaning |
|---|---|---|
| TAMS_HOST | 127.0.0.1 | bind address |
| TAMS_PORT | 8000 | bind port |
| TAMS_DATA_DIR | ./data | SQLite catalog, local objects, generated keys |
| TAMS_CATALOG | sqlite | catalog store (sqlite) |
| TAMS_PUBLIC_URL | (from the request) | externally visible base URL for Link headers, e.g. https://media.example/tams |
| TAMS_SERVICE_NAME | TAMS Gateway | /service name (until changed with POST /service) |
| TAMS_DEFAULT_LIMIT | 100 | page size when a client gives no limit |
| TAMS_MAX_LIMIT | 1000 | largest page a client can ask for |
| TAMS_MAX_BODY_BYTES | 16777216 | largest JSON request body |
| TAMS_SQLITE_READERS | 4 | reader threads (connections) for the SQLite catalog |
| TAMS_LOG_LEVEL | info | log level |
| TAMS_ALLOW_OPEN | false | allow serving without auth on a non-loopback address |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
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
    sqlite_readers: int = 4
    log_level: str = "info"
    allow_open: bool = False

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
        sqlite_readers=_int(env, "TAMS_SQLITE_READERS", 4),
        log_level=env.get("TAMS_LOG_LEVEL", "info"),
        allow_open=env.get("TAMS_ALLOW_OPEN", "false").lower() in ("1", "true", "yes"),
    )
    if settings.catalog not in ("sqlite",):
        raise ValueError(f"TAMS_CATALOG={settings.catalog!r} is not a catalog this build knows (sqlite)")
    if settings.default_limit > settings.max_limit:
        raise ValueError("TAMS_DEFAULT_LIMIT must not exceed TAMS_MAX_LIMIT")
    return settings
