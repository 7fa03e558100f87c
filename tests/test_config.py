"""Settings: the one table (gateway.config.SETTINGS) drives both load_settings and the README's table."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from conftest import ROOT

from gateway.config import (
    SETTINGS,
    TABLE_END,
    TABLE_START,
    Settings,
    load_settings,
    markdown_table,
    readme_with_table,
)


def test_the_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert readme_with_table(readme) == readme, "run: python -m gateway.config --readme README.md"


def test_every_field_has_exactly_one_variable():
    assert sorted(s.field for s in SETTINGS) == sorted(f.name for f in fields(Settings))
    variables = [s.variable for s in SETTINGS]
    assert len(set(variables)) == len(variables)


def test_an_empty_environment_gives_the_defaults():
    assert load_settings({}) == Settings()
    assert load_settings({s.variable: "" for s in SETTINGS}) == Settings()


def test_every_variable_reaches_its_field():
    env = {
        "TAMS_HOST": "0.0.0.0",
        "TAMS_PORT": "0",
        "TAMS_WORKERS": "3",
        "TAMS_DATA_DIR": "/srv/tams",
        "TAMS_CATALOG": "vast-fake",
        "TAMS_PUBLIC_URL": "https://media.example/tams",
        "TAMS_SERVICE_NAME": "Store",
        "TAMS_DEFAULT_LIMIT": "7",
        "TAMS_MAX_LIMIT": "9",
        "TAMS_MAX_BODY_BYTES": "1024",
        "TAMS_SQLITE_READERS": "5",
        "TAMS_SQLITE_LOOP_READS": "false",
        "TAMS_LOG_LEVEL": "debug",
        "TAMS_ALLOW_OPEN": "yes",
        "TAMS_STORAGE_CONFIG": "/etc/storage.json",
        "TAMS_PRESIGN_EXPIRY": "60",
        "TAMS_OBJECT_TIMEOUT": "300",
        "TAMS_DELIVERY_MODE": "proxy",
        "TAMS_REQUIRE_ALLOCATION": "0",
        "TAMS_MAX_OBJECT_BYTES": "5",
        "TAMS_PROBE_ON_REGISTER": "true",
        "TAMS_LIVE_WINDOW": "3",
        "TAMS_LIVE_SPAN_S": "0",
        "TAMS_PLAYLIST_URIS": "redirect",
        "TAMS_PLAYLIST_CACHE_MB": "0",
        "TAMS_REMUX_CACHE_MB": "0",
        "TAMS_CLIP_CACHE_MB": "7",
        "TAMS_CORS_ORIGINS": " a.example, ,b ",
        "TAMS_WEBHOOKS_ALLOW_PRIVATE": "TRUE",
        "TAMS_WEBHOOK_MAX_FAILURES": "2",
        "TAMS_WEBHOOK_BACKOFF": "0.05",
        "TAMS_EVENT_RETENTION": "60",
        "TAMS_VAST_ENDPOINT": "http://vip",
        "TAMS_VAST_ACCESS_KEY": "a",
        "TAMS_VAST_SECRET_KEY": "s",
        "TAMS_VAST_BUCKET": "b",
        "TAMS_VAST_SCHEMA": "t2",
        "TAMS_VAST_DATA_ENDPOINTS": "http://d1,http://d2",
        "TAMS_VAST_SESSIONS": "2",
        "TAMS_AUTHZ_POLICY_FILE": "/etc/tams-policy.json",
    }
    assert set(env) == {s.variable for s in SETTINGS}
    settings = load_settings(env)
    assert settings == Settings(
        host="0.0.0.0",
        port=0,
        workers=3,
        data_dir=Path("/srv/tams"),
        catalog="vast-fake",
        public_url="https://media.example/tams",
        service_name="Store",
        default_limit=7,
        max_limit=9,
        max_body_bytes=1024,
        sqlite_readers=5,
        sqlite_loop_reads=False,
        log_level="debug",
        allow_open=True,
        storage_config=Path("/etc/storage.json"),
        presign_expiry=60,
        object_timeout=300,
        delivery_mode="proxy",
        require_allocation=False,
        max_object_bytes=5,
        probe_on_register=True,
        live_window=3,
        live_span_s=0,
        playlist_uris="redirect",
        playlist_cache_mb=0,
        remux_cache_mb=0,
        clip_cache_mb=7,
        cors_origins=("a.example", "b"),
        webhooks_allow_private=True,
        webhook_max_failures=2,
        webhook_backoff=0.05,
        event_retention=60,
        vast_endpoint="http://vip",
        vast_access_key="a",
        vast_secret_key="s",
        vast_bucket="b",
        vast_schema="t2",
        vast_data_endpoints=("http://d1", "http://d2"),
        vast_sessions=2,
        authz_policy_file=Path("/etc/tams-policy.json"),
    )
    # every field differs from its default, so no variable is silently ignored
    assert all(getattr(settings, f.name) != getattr(Settings(), f.name) for f in fields(Settings))


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("TAMS_PORT", "eighty", "must be an integer"),
        ("TAMS_PORT", "-1", "must be >= 0"),
        ("TAMS_LIVE_WINDOW", "2", "must be >= 3"),
        ("TAMS_LIVE_SPAN_S", "-1", "must be >= 0"),
        ("TAMS_OBJECT_TIMEOUT", "299", "must be >= 300"),
        ("TAMS_ALLOW_OPEN", "maybe", "must be true or false"),
        ("TAMS_WEBHOOK_BACKOFF", "fast", "must be a number"),
        ("TAMS_PLAYLIST_URIS", "ftp", "must be presigned, proxy or redirect"),
        ("TAMS_DELIVERY_MODE", "inline", "must be redirect or proxy"),
        ("TAMS_CATALOG", "postgres", "must be one of sqlite, vast, vast-fake"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(variable, raw, message):
    with pytest.raises(ValueError, match=rf"^{variable}={raw!r} {message}"):
        load_settings({variable: raw})


def test_cross_checks():
    with pytest.raises(ValueError, match="TAMS_DEFAULT_LIMIT must not exceed TAMS_MAX_LIMIT"):
        load_settings({"TAMS_DEFAULT_LIMIT": "20", "TAMS_MAX_LIMIT": "10"})
    with pytest.raises(ValueError, match="TAMS_CATALOG=vast needs TAMS_VAST_ENDPOINT"):
        load_settings({"TAMS_CATALOG": "vast"})


@pytest.mark.slow
def test_the_table_command(tmp_path):
    printed = subprocess.run(
        [sys.executable, "-m", "gateway.config", "--markdown"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert printed == markdown_table() + "\n"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{TABLE_START}\n| stale |\n{TABLE_END}\ntail\n")
    subprocess.run([sys.executable, "-m", "gateway.config", "--readme", str(readme)], cwd=ROOT, check=True)
    assert readme.read_text() == f"# x\n{TABLE_START}\n{markdown_table()}\n{TABLE_END}\ntail\n"
