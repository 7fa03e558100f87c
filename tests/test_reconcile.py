"""`tams-gateway reconcile` after a restore: segments whose bytes are gone, and bytes nobody knows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, new_id, sqlite_only
from starlette.testclient import TestClient
from test_objects_local import make_flow, upload

from gateway.app import create_app


def _reconcile(data_dir, *extra: str) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "reconcile", "--data-dir", str(data_dir), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TAMS_CATALOG": "sqlite"},
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.mark.slow
@sqlite_only
def test_reconcile_reports_missing_bytes_and_collects_orphans(settings):
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        flow_id = make_flow(client)
        kept, lost = upload(client, flow_id, [b"kept" * 100, b"lost" * 100])
        body = [{"object_id": kept, "timerange": "[0:0_2:0)"}, {"object_id": lost, "timerange": "[2:0_4:0)"}]
        assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
    objects_dir = settings.data_dir / "objects"
    files = {p.name: p for p in objects_dir.rglob("*") if p.is_file()}
    lost_file = next(p for name, p in files.items() if name.startswith(lost))
    lost_file.unlink()  # the bucket was restored from a snapshot older than the catalog's
    stray = objects_dir / "objects" / "zz" / f"{new_id()}.ts"  # bytes the (older) catalog never registered
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"orphan")
    old = time.time() - 7200
    os.utime(stray, (old, old))
    fresh = stray.with_name(f"{new_id()}.ts")  # an upload in flight: too young to be called an orphan
    fresh.write_bytes(b"uploading")

    code, report = _reconcile(settings.data_dir)
    assert code == 1 and report["instances_checked"] == 2
    assert [(m["object_id"], m["flows"]) for m in report["missing_bytes"]] == [(lost, [flow_id])]
    assert [o["key"].rsplit("/", 1)[1] for o in report["orphan_objects"]] == [stray.name]
    assert stray.exists() and report["orphans_deleted"] == 0

    code, report = _reconcile(settings.data_dir, "--delete-orphans")
    assert report["orphans_deleted"] == 1 and not stray.exists() and fresh.exists()
