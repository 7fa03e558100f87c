"""`tams-gateway backup` of a live catalog, and a restore drill: the copy serves everything it held."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading

import httpx
import pytest
from conftest import ROOT, GatewayProcess, new_id, sqlite_only, video_flow


@pytest.mark.slow
@sqlite_only
def test_backup_while_writing_then_restore(gateway_process, tmp_path):
    flow_id = new_id()
    with httpx.Client(base_url=gateway_process.url, timeout=30) as http:
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), tags={"show": "news"}))
        for batch in range(5):
            body = [
                {"object_id": new_id(), "timerange": f"[{n}:0_{n + 1}:0)"}
                for n in range(batch * 1000, batch * 1000 + 1000)
            ]
            http.post(f"/flows/{flow_id}/segments", json=body)
        stop = threading.Event()

        def keep_writing() -> None:  # the gateway keeps taking writes during the backup
            n = 10_000
            while not stop.is_set():
                http.post(f"/flows/{flow_id}/segments", json={"object_id": new_id(), "timerange": f"[{n}:0_{n + 1}:0)"})
                n += 1

        writer = threading.Thread(target=keep_writing)
        writer.start()
        target = tmp_path / "backup" / "catalog.sqlite3"
        try:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gateway.cli",
                    "backup",
                    str(target),
                    "--data-dir",
                    str(gateway_process.data_dir),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            stop.set()
            writer.join()
        assert result.returncode == 0, result.stderr
    # restore: a new data dir holding only the backup file serves the flow and its first 5,000 segments
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    shutil.copy(target, restored_dir / "catalog.sqlite3")
    restored = GatewayProcess(restored_dir)
    restored.start()
    try:
        with httpx.Client(base_url=restored.url) as http:
            flow = http.get(f"/flows/{flow_id}").json()
            assert flow["tags"] == {"show": "news"}
            page = http.get(f"/flows/{flow_id}/segments?timerange=[0:0_5000:0)&limit=1000").json()
            assert len(page) == 1000 and page[0]["timerange"] == "[0:0_1:0)"
            count = 0
            url = f"/flows/{flow_id}/segments?limit=1000"
            while url:
                response = http.get(url)
                count += len(response.json())
                link = response.headers.get("Link")
                url = link[1 : link.index(">")].split(restored.url, 1)[1] if link else ""
            assert count >= 5000
    finally:
        restored.stop()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "backup",
            str(tmp_path / "x.db"),
            "--data-dir",
            str(tmp_path / "nowhere"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "no catalog" in bad.stderr
