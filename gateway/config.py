"""Gateway settings from environment variables (and command-line flags, which override them).

``SETTINGS`` is the one table of them: ``load_settings`` reads the environment through it, and the
README's Configuration table is generated from it (``python -m gateway.config --markdown``, or
``--readme README.md`` to rewrite that table in place; tests/test_config.py keeps the two equal).
Defaults are written once, in ``Settings``.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = field(default_factory=lambda: default_workers())
    data_dir: Path = Path("data")
    catalog: str = "sqlite"
    public_url: str | None = None
    service_name: str = "TAMS Gateway"
    default_limit: int = 100
    max_limit: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    sqlite_readers: int = field(default_factory=lambda: default_readers())
    sqlite_loop_reads: bool = True
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
    live_span_s: int = 60
    playlist_uris: str = "presigned"
    playlist_cache_mb: int = 64
    remux_cache_mb: int = 128
    clip_cache_mb: int = 1024
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
    authz_policy_file: Path | None = None

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
        given: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **given)

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
        missing = [
            name
            for name, value in (
                ("TAMS_VAST_ENDPOINT", settings.vast_endpoint),
                ("TAMS_VAST_ACCESS_KEY", settings.vast_access_key),
                ("TAMS_VAST_SECRET_KEY", settings.vast_secret_key),
                ("TAMS_VAST_BUCKET", settings.vast_bucket),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"TAMS_CATALOG=vast needs {', '.join(missing)}")


def default_workers() -> int:
    """One gateway process per core this process may run on (its CPU affinity, e.g. a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_readers() -> int:
    """Reader threads leave a core to the event loop: every sqlite3 call hands the GIL over, and more
    readers than spare cores measured slower (docs/PERFORMANCE.md: 1 reader 1,420-1,560 req/s, 4
    readers 880-1,170 on 2 cores)."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


# -- reading one variable: each reader turns a non-empty raw value into the field's value ----------------
Reader = Callable[[str, str], object]  # (variable name, raw text) -> value; ValueError names the variable


def _text(name: str, raw: str) -> str:
    return raw


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _comma_list(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _bool(name: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"{name}={raw!r} must be true or false")


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} must be a number") from None


def _integer(minimum: int = 1) -> Reader:
    def read(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} must be an integer") from None
        if value < minimum:
            raise ValueError(f"{name}={raw!r} must be >= {minimum}")
        return value

    return read


def _choice(*options: str) -> Reader:
    def read(name: str, raw: str) -> str:
        if raw not in options:
            raise ValueError(f"{name}={raw!r} must be {', '.join(options[:-1])} or {options[-1]}")
        return raw

    return read


@dataclass(frozen=True)
class Setting:
    """One environment variable: the ``Settings`` field it sets, how it is read, what it means."""

    field: str
    variable: str
    meaning: str  # Markdown, for the README
    read: Reader = _text
    shown_default: str | None = None  # the README's default column when the value alone says too little


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "TAMS_HOST", "bind address"),
    Setting("port", "TAMS_PORT", "bind port", _integer(minimum=0)),
    Setting(
        "workers",
        "TAMS_WORKERS",
        "gateway processes serving the port (one catalog; `vast-fake` always runs one; "
        "see [docs/DEPLOYMENT.md](docs/DEPLOYMENT.md))",
        _integer(),
        shown_default="the number of cores",
    ),
    Setting(
        "data_dir",
        "TAMS_DATA_DIR",
        "SQLite catalog (`catalog.sqlite3`), local objects, generated keys",
        _path,
        shown_default="`./data`",
    ),
    Setting(
        "catalog",
        "TAMS_CATALOG",
        "catalog store: `sqlite`, or `vast` for VAST DB (`TAMS_VAST_*`, see "
        "[docs/VAST.md](docs/VAST.md)); `vast-fake` is its in-memory fake, for tests",
    ),
    Setting(
        "public_url",
        "TAMS_PUBLIC_URL",
        "externally visible base URL used in `Link` headers (e.g. `https://media.example/tams`)",
        shown_default="taken from the request",
    ),
    Setting("service_name", "TAMS_SERVICE_NAME", "`name` in `/service` until changed with `POST /service`"),
    Setting("default_limit", "TAMS_DEFAULT_LIMIT", "page size when a request gives no `limit`", _integer()),
    Setting(
        "max_limit", "TAMS_MAX_LIMIT", "largest page; bigger `limit`s are clamped (see `X-Paging-Limit`)", _integer()
    ),
    Setting("max_body_bytes", "TAMS_MAX_BODY_BYTES", "largest JSON request body (larger → 413)", _integer()),
    Setting(
        "sqlite_readers",
        "TAMS_SQLITE_READERS",
        "reader threads/connections for the SQLite catalog",
        _integer(),
        shown_default="cores − 1, 1 to 4",
    ),
    Setting(
        "sqlite_loop_reads",
        "TAMS_SQLITE_LOOP_READS",
        "segment pages read on the event loop under a step budget (over it, or locked: on a reader thread)",
        _bool,
    ),
    Setting("log_level", "TAMS_LOG_LEVEL", "log level; access logs are JSON lines on logger `tams.access`"),
    Setting("allow_open", "TAMS_ALLOW_OPEN", "allow serving without authentication on a non-loopback address", _bool),
    Setting(
        "storage_config",
        "TAMS_STORAGE_CONFIG",
        "JSON file of storage backends, local and S3 (see [docs/STREAMING.md](docs/STREAMING.md))",
        _path,
        shown_default="(none: one local-disk backend under `<data dir>/objects`)",
    ),
    Setting(
        "presign_expiry",
        "TAMS_PRESIGN_EXPIRY",
        "seconds presigned GET/PUT URLs stay valid (≥ 60)",
        _integer(minimum=60),
    ),
    Setting(
        "object_timeout",
        "TAMS_OBJECT_TIMEOUT",
        "seconds before allocated-but-unregistered objects are removed (≥ 300)",
        _integer(minimum=300),
    ),
    Setting(
        "delivery_mode",
        "TAMS_DELIVERY_MODE",
        "default of the delivery endpoints: `redirect` or `proxy`",
        _choice("redirect", "proxy"),
    ),
    Setting(
        "require_allocation",
        "TAMS_REQUIRE_ALLOCATION",
        "refuse segments naming objects that were never allocated and give no `get_urls`",
        _bool,
    ),
    Setting(
        "max_object_bytes", "TAMS_MAX_OBJECT_BYTES", "largest upload to the local-disk store (larger → 413)", _integer()
    ),
    Setting(
        "probe_on_register",
        "TAMS_PROBE_ON_REGISTER",
        "read newly uploaded objects with PyAV at registration "
        "(key frames, duration check, missing essence parameters filled in)",
        _bool,
    ),
    Setting("live_window", "TAMS_LIVE_WINDOW", "fewest segments in a live playlist (≥ 3)", _integer(minimum=3)),
    Setting(
        "live_span_s",
        "TAMS_LIVE_SPAN_S",
        "seconds of media a live playlist lists (its DVR window; `0`: just `TAMS_LIVE_WINDOW` segments); "
        "a live flow that closes within it ends cleanly for players already watching",
        _integer(minimum=0),
    ),
    Setting(
        "playlist_uris",
        "TAMS_PLAYLIST_URIS",
        "segment URIs in playlists: `presigned`, `proxy` or `redirect`",
        _choice("presigned", "proxy", "redirect"),
    ),
    Setting(
        "playlist_cache_mb",
        "TAMS_PLAYLIST_CACHE_MB",
        "MiB of finished (VOD) playlists kept in memory for their max-age; `0`: none",
        _integer(minimum=0),
    ),
    Setting(
        "remux_cache_mb",
        "TAMS_REMUX_CACHE_MB",
        "MiB of remuxed (init) segments kept in memory, least recently used out; `0`: none",
        _integer(minimum=0),
    ),
    Setting(
        "clip_cache_mb",
        "TAMS_CLIP_CACHE_MB",
        "MiB of made `media.mp4` clip files kept under `<data dir>/cache/clips`, least recently used out; `0`: none",
        _integer(minimum=0),
    ),
    Setting(
        "cors_origins",
        "TAMS_CORS_ORIGINS",
        "browser origins allowed to call the gateway (comma list, or `*`)",
        _comma_list,
    ),
    Setting(
        "webhooks_allow_private",
        "TAMS_WEBHOOKS_ALLOW_PRIVATE",
        "let webhooks target loopback/private addresses (the SSRF guard refuses them otherwise)",
        _bool,
    ),
    Setting(
        "webhook_max_failures",
        "TAMS_WEBHOOK_MAX_FAILURES",
        "failed deliveries in a row before a webhook goes to `error`",
        _integer(),
    ),
    Setting(
        "webhook_backoff",
        "TAMS_WEBHOOK_BACKOFF",
        "first retry delay in seconds (doubles, with jitter, up to 30 s)",
        _number,
    ),
    Setting(
        "event_retention",
        "TAMS_EVENT_RETENTION",
        "seconds delivered events stay in the outbox (for `/events` resumption; ≥ 60)",
        _integer(minimum=60),
    ),
    Setting(
        "vast_endpoint",
        "TAMS_VAST_ENDPOINT",
        "the VAST cluster's VIP pool URL for the catalog (`TAMS_CATALOG=vast`), e.g. `http://vip-pool.example`",
    ),
    Setting("vast_access_key", "TAMS_VAST_ACCESS_KEY", "S3 access key of an identity with a Tabular identity policy"),
    Setting("vast_secret_key", "TAMS_VAST_SECRET_KEY", "its secret key"),
    Setting("vast_bucket", "TAMS_VAST_BUCKET", "the Database-enabled bucket (created by an admin in VMS)"),
    Setting("vast_schema", "TAMS_VAST_SCHEMA", "schema inside that bucket (created at start if missing)"),
    Setting(
        "vast_data_endpoints",
        "TAMS_VAST_DATA_ENDPOINTS",
        "comma list of data VIPs for selects",
        _comma_list,
        shown_default="discovered",
    ),
    Setting(
        "vast_sessions",
        "TAMS_VAST_SESSIONS",
        "SDK sessions = worker threads for catalog calls ([docs/VAST.md](docs/VAST.md))",
        _integer(),
    ),
    Setting(
        "authz_policy_file",
        "TAMS_AUTHZ_POLICY_FILE",
        "JSON policy of fine-grained permissions by `auth_classes` tag "
        "([docs/SECURITY.md](docs/SECURITY.md)); unset: scopes alone decide",
        _path,
    ),
)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Reads TAMS_* variables (unset or empty: the default); raises ValueError naming any bad value."""
    env = os.environ if env is None else env
    given: dict[str, Any] = {s.field: s.read(s.variable, raw) for s in SETTINGS if (raw := env.get(s.variable))}
    settings = Settings(**given)
    check_catalog(settings)
    if settings.default_limit > settings.max_limit:
        raise ValueError("TAMS_DEFAULT_LIMIT must not exceed TAMS_MAX_LIMIT")
    return settings


# -- the README's table ------------------------------------------------------------------------------------
TABLE_START = "<!-- settings table: generated by `python -m gateway.config --readme README.md` -->"
TABLE_END = "<!-- end of settings table -->"


def _shown(value: object) -> str:
    if value is None or value == ():
        return "(none)"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def markdown_table() -> str:
    """The Configuration table of README.md, one row per setting, defaults read from ``Settings``."""
    defaults = Settings()
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [
        f"| `{s.variable}` | {s.shown_default or _shown(getattr(defaults, s.field))} | {s.meaning} |" for s in SETTINGS
    ]
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    """``readme`` with the text between the table markers replaced by the generated table."""
    before, found, rest = readme.partition(TABLE_START)
    _, found_end, after = rest.partition(TABLE_END)
    if not (found and found_end):
        raise ValueError("the README has no settings-table markers")
    return f"{before}{TABLE_START}\n{markdown_table()}\n{TABLE_END}{after}"


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        print(markdown_table())
        return 0
    if len(argv) == 2 and argv[0] == "--readme":
        path = Path(argv[1])
        path.write_text(readme_with_table(path.read_text()))
        return 0
    print("usage: python -m gateway.config --markdown | --readme README.md", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
