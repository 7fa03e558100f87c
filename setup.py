"""Build hook: the wheel and the sdist carry the JavaScript players that /player serves.

hls.js and dash.js come from npm (gateway/player/package.json, pinned by package-lock.json) and live in
gateway/player/node_modules, which is not committed. The files the gateway serves are listed in
pyproject.toml's package-data (the only list); before setuptools collects them, this hook checks that
each is present at its locked version and otherwise runs `npm ci` (registry at build time, never at run
time). A checkout where `make` already ran, or an sdist (which carries the files), builds without npm.
Without npm the build stops and says so; TAMS_SKIP_PLAYER_JS=1 builds without the players (/player
then answers 404 for their scripts).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import SetupError

PLAYER_DIR = Path(__file__).resolve().parent / "gateway" / "player"
NODE_MODULES = "player/node_modules/"  # package-data entries under this prefix come from npm


def npm_files(package_data: dict[str, list[str]]) -> list[str]:
    """The npm-installed files package-data lists, relative to gateway/player/node_modules."""
    return [entry[len(NODE_MODULES) :] for entry in package_data.get("gateway", []) if entry.startswith(NODE_MODULES)]


def npm_package(path: str) -> str:
    """`hls.js/dist/hls.min.js` -> `hls.js`; `@scope/name/x.js` -> `@scope/name`."""
    parts = path.split("/")
    return "/".join(parts[:2] if parts[0].startswith("@") else parts[:1])


def stale(files: list[str]) -> list[str]:
    """What is missing or not at the version package-lock.json pins (empty when the tree is ready)."""
    locked = json.loads((PLAYER_DIR / "package-lock.json").read_text())["packages"]
    problems = []
    for name in sorted({npm_package(path) for path in files}):
        manifest = PLAYER_DIR / "node_modules" / name / "package.json"
        want = locked.get(f"node_modules/{name}", {}).get("version")
        have = json.loads(manifest.read_text()).get("version") if manifest.is_file() else None
        if have is None:
            problems.append(f"{name} is not installed")
        elif have != want:
            problems.append(f"{name} is {have}, package-lock.json pins {want}")
        else:
            problems += [
                f"{path} is missing"
                for path in files
                if npm_package(path) == name and not (PLAYER_DIR / "node_modules" / path).is_file()
            ]
    return problems


def ensure_player_js(files: list[str]) -> None:
    if not files or os.environ.get("TAMS_SKIP_PLAYER_JS") == "1" or not (problems := stale(files)):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError(
            "the /player scripts (hls.js, dash.js) come from npm at build time, and npm is not "
            f"installed ({'; '.join(problems)}). Install Node.js/npm, or run `npm ci` in "
            f"{PLAYER_DIR}, or set TAMS_SKIP_PLAYER_JS=1 to build without them."
        )
    # --ignore-scripts: only the packages' published dist files are needed, nothing of theirs runs here
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=PLAYER_DIR, check=True)
    if problems := stale(files):
        raise SetupError(
            f"after `npm ci` in {PLAYER_DIR}: {'; '.join(problems)} (pyproject.toml's "
            "package-data names a file the npm package does not ship?)"
        )


class BuildPyWithPlayerJS(build_py):
    """build_py that makes sure the npm files exist before its data files are collected.

    finalize_options is the one step every path goes through before package data is globbed
    (wheel, editable install, and sdist via egg_info's manifest)."""

    def finalize_options(self) -> None:
        ensure_player_js(npm_files(self.distribution.package_data or {}))
        super().finalize_options()


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import its checks
    setup(cmdclass={"build_py": BuildPyWithPlayerJS})
