"""The benchmark's server processes: a gateway (``python -m gateway.cli serve``) or the bare Starlette
reference (``python -m bench.bare``) started on 127.0.0.1, waited for until it answers, and stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict[str, str], log: Path, ready_path: str, port: int) -> subprocess.Popen:
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{command[2]} exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"{command[2]} did not answer in 60 s:\n{log.read_text()[-4000:]}")


def gateway_command(data_dir: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    """A gateway on the local-disk default (bench.bulk, bench.workers); ``TAMS_WORKERS`` from the environment."""
    env = {**os.environ, "TAMS_LOG_LEVEL": "warning", "NO_PROXY": "127.0.0.1", "TAMS_REQUIRE_ALLOCATION": "false"}
    env.setdefault("TAMS_WORKERS", "1")  # the figures are one process's; bench/workers.py compares more
    return start(gateway_command(data_dir, port), env, log, "/healthz", port)


def start_bare(port: int, bodies: dict[str, bytes], scratch: Path) -> subprocess.Popen:
    args = []
    for n, (path, body) in enumerate(bodies.items()):
        file = scratch / f"body-{n}.json"
        file.write_bytes(body)
        args += ["--body", f"{path}={file}"]
    command = [sys.executable, "-m", "bench.bare", "--port", str(port), *args]
    return start(command, {**os.environ, "NO_PROXY": "127.0.0.1"}, scratch / "bare.log", next(iter(bodies)), port)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
