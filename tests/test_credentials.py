"""scrypt's cost is bounded: verified credentials cached, failures rate limited per address, runs capped."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading

import httpx
import pytest
from conftest import TEST_CATALOG

from gateway.app import create_app
from gateway.auth import READ, AuthSettings
from gateway.config import Settings
from gateway.credentials import CredentialLimits, PasswordChecker, RateLimited, hash_password

ATTACKERS = [f"198.51.100.{n}" for n in range(4)]
FAILURES_PER_MINUTE = 5
CONCURRENCY = 2


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class ScryptCounter:
    """Wraps hashlib.scrypt (the standard library, not ours) to count runs and the most at once."""

    def __init__(self, real) -> None:
        self.real, self.calls, self.running, self.most = real, 0, 0, 0
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs) -> bytes:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return self.real(*args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def scrypt(monkeypatch) -> ScryptCounter:
    counter = ScryptCounter(hashlib.scrypt)
    monkeypatch.setattr(hashlib, "scrypt", counter)
    return counter


@pytest.fixture
def app(tmp_path):
    hashed = hash_password("right")
    users = {"alice": {"password_hash": hashed, "scopes": [READ]}, "bob": {"password_hash": hashed}}
    (tmp_path / "users.json").write_text(json.dumps(users))
    (tmp_path / "clients.json").write_text(json.dumps({"ingest": {"secret_hash": hashed}}))
    env = {
        "TAMS_AUTH_USERS_FILE": str(tmp_path / "users.json"),
        "TAMS_AUTH_OAUTH2_CLIENTS_FILE": str(tmp_path / "clients.json"),
        "TAMS_AUTH_FAILURES_PER_MINUTE": str(FAILURES_PER_MINUTE),
        "TAMS_AUTH_SCRYPT_CONCURRENCY": str(CONCURRENCY),
    }
    settings = Settings(data_dir=tmp_path / "data", catalog=TEST_CATALOG)
    return create_app(settings, auth=AuthSettings.from_env(env, settings.data_dir))


def _client(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app, client=(address, 4711)), base_url="http://gw")


def test_parallel_bad_attempts_neither_starve_a_good_client_nor_run_scrypt_unbounded(app, scrypt):
    async def scenario() -> tuple[list[int], list[httpx.Response]]:
        async with app.router.lifespan_context(app):
            good = _client(app, "192.0.2.10")
            # the good client shares an address (a NAT) with an attacker: verified before the attack
            shared = _client(app, ATTACKERS[0])
            assert (await shared.get("/flows", headers=basic("alice", "right"))).status_code == 200
            attackers = [_client(app, address) for address in ATTACKERS]
            bad = [a.get("/flows", headers=basic("bob", f"guess-{n}")) for a in attackers for n in range(16)]
            fine = [c.get("/flows", headers=basic("alice", "right")) for c in (good, shared) for _ in range(10)]
            answers = await asyncio.gather(*fine, *bad)
            for c in (good, shared, *attackers):
                await c.aclose()
            return [r.status_code for r in answers[: len(fine)]], list(answers[len(fine) :])

    fine, bad = asyncio.run(scenario())
    assert app.state.passwords.scrypt_runs == scrypt.calls  # what /metrics reports
    assert fine == [200] * len(fine)
    assert {r.status_code for r in bad} <= {401, 429}
    limited = [r for r in bad if r.status_code == 429]
    assert len(limited) == len(ATTACKERS) * (16 - FAILURES_PER_MINUTE)
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    # one run for alice (then cached, from both addresses), at most the limit per attacking address
    assert scrypt.calls == 1 + len(ATTACKERS) * FAILURES_PER_MINUTE
    assert scrypt.most <= CONCURRENCY


def test_token_endpoint_shares_the_limit(app, scrypt):
    async def scenario() -> list[int]:
        async with app.router.lifespan_context(app), _client(app, ATTACKERS[1]) as http:
            form = {"grant_type": "client_credentials", "client_id": "ingest"}
            return [
                (await http.post("/oauth/token", data={**form, "client_secret": f"x{n}"})).status_code
                for n in range(FAILURES_PER_MINUTE + 2)
            ]

    assert asyncio.run(scenario()) == [401] * FAILURES_PER_MINUTE + [429, 429]
    assert app.state.passwords.refused == 2
    assert scrypt.calls == FAILURES_PER_MINUTE


def test_cache_lifetime_and_window(scrypt):
    now = [1000.0]
    checker = PasswordChecker(CredentialLimits(failures_per_minute=2, cache_s=300), clock=lambda: now[0])
    hashed = hash_password("pw")
    scrypt.calls = 0

    async def scenario() -> None:
        assert await checker.check("a", "u", "pw", hashed)
        assert await checker.check("a", "u", "pw", hashed)
        assert scrypt.calls == 1  # cached
        now[0] += 301
        assert await checker.check("a", "u", "pw", hashed)
        assert scrypt.calls == 2  # expired, checked again
        assert not await checker.check("b", "u", "no", hashed)
        assert not await checker.check("b", "ghost", "no", None)  # unknown names count too, without scrypt
        with pytest.raises(RateLimited):
            await checker.check("b", "u", "no", hashed)
        assert await checker.check("b", "u", "pw", hashed)  # a cached success still passes
        now[0] += 61  # the window moved on
        assert not await checker.check("b", "u", "no", hashed)

    asyncio.run(scenario())
    assert scrypt.calls == 4
