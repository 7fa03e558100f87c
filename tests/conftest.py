"""Shared fixtures: an app on a fresh catalog, a client, and a real gateway process on loopback.

The catalog is SQLite unless TAMS_TEST_CATALOG names another store: ``make test`` runs the API
suite a second time with TAMS_TEST_CATALOG=vast-fake (the VAST DB store on the in-memory fake).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from spec import left_out_summary
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings

ROOT = Path(__file__).resolve().parents[1]
TEST_CATALOG = os.environ.get("TAMS_TEST_CATALOG", "sqlite")
sqlite_only = pytest.mark.skipif(
    TEST_CATALOG != "sqlite", reason=f"tests the SQLite catalog file itself (this run: {TEST_CATALOG})"
)


# fixtures that start real processes (a gateway, moto's S3 server, a browser): their tests are slow; "gateway"
# is the name test modules give their own GatewayProcess fixtures
PROCESS_FIXTURES = frozenset({"gateway_process", "gateway", "s3_server", "browser"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `make test-fast` leaves out -m slow, so a process test without the marker would slow the loop unseen
    unmarked = [
        item.nodeid
        for item in items
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("slow")
    ]
    if unmarked:
        raise pytest.UsageError("tests using a real process need @pytest.mark.slow: " + ", ".join(unmarked))


# the player matrix's reruns (tests/players/cases.py, RERUN), each with why its first run failed: a lead
RERUNS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.outcome == "rerun":
        crash = getattr(report.longrepr, "reprcrash", None)
        why = crash.message if crash is not None else str(report.longrepr)
        RERUNS.append(f"{report.nodeid}: {why.strip().splitlines()[0][:400] if why.strip() else '?'}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # schema validation is an extra assertion: say once what this run could not check
    line = left_out_summary()
    if line:
        terminalreporter.write_sep("=", "schema checks left out", yellow=True)
        terminalreporter.write_line(line)
    if RERUNS:
        terminalreporter.write_sep("=", "reruns: the first run failed", yellow=True)
        for rerun in RERUNS:
            terminalreporter.write_line(rerun)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # the core API tests register segments for objects they never upload: allocation is tested on its own
    return Settings(
        data_dir=tmp_path / "data",
        default_limit=100,
        max_limit=1000,
        require_allocation=False,
        public_url="http://testserver",
        catalog=TEST_CATALOG,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://testserver") as test_client:
        yield test_client


def new_id() -> str:
    return str(uuid.uuid4())


def video_flow(flow_id: str, source_id: str, **extra: object) -> dict:
    body = {
        "id": flow_id,
        "source_id": source_id,
        "format": "urn:x-nmos:format:video",
        "codec": "video/h264",
        "container": "video/mp2t",
        "essence_parameters": {
            "frame_width": 1920,
            "frame_height": 1080,
            "frame_rate": {"numerator": 25, "denominator": 1},
        },
    }
    body.update(extra)
    return body


def audio_flow(flow_id: str, source_id: str, **extra: object) -> dict:
    body = {
        "id": flow_id,
        "source_id": source_id,
        "format": "urn:x-nmos:format:audio",
        "codec": "audio/aac",
        "container": "video/mp2t",
        "essence_parameters": {"sample_rate": 48000, "channels": 2},
    }
    body.update(extra)
    return body


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GatewayProcess:
    """``tams-gateway serve`` as a real process on 127.0.0.1, restartable on the same data dir.

    One worker unless ``workers`` says more (the default of ``serve`` is one per core; tests of
    several processes ask for them, the rest stay light on a 2-core machine)."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        command: Sequence[str] = (sys.executable, "-m", "gateway.cli"),
        cwd: Path = ROOT,
        workers: int = 1,
    ) -> None:
        self.data_dir = data_dir
        self.workers = workers
        self.command = list(command)  # e.g. an installed `tams-gateway` (tests/test_packaging.py)
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TAMS_LOG_LEVEL": "warning",
            "NO_PROXY": "127.0.0.1,localhost",
            "TAMS_REQUIRE_ALLOCATION": "false",
            "TAMS_CATALOG": TEST_CATALOG,
            "TAMS_WORKERS": str(workers),
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.command, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.proc.stdout.read().decode()}")  # type: ignore[union-attr]  # stdout=PIPE
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200 and self._all_workers_up():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway did not become healthy in 30 s")

    def _all_workers_up(self) -> bool:
        return self.workers == 1 or len(self.worker_pids()) == self.workers

    def worker_pids(self) -> list[int]:
        """The worker processes under uvicorn's supervisor (with one worker: the process itself)."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        from processes import child_pids

        return child_pids(self.proc.pid)

    def background_pid(self) -> int:
        """The worker holding the background-services lock (it writes its pid into the file)."""
        return int((self.data_dir / "background.lock").read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "data")
    process.start()
    yield process
    process.stop()


class S3Server:
    """moto's S3-compatible server as a real process on 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        moto = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/moto-api/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("moto server did not start in 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client(
            "s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        ).create_bucket(Bucket=name)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.stop()
