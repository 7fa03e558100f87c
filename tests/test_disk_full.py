"""A full disk, for real: a gateway whose data directory is an 8 MiB tmpfs. Uploads and catalog writes
answer 507 naming the cause, and deletes still go through, so space can be freed through the API.

Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import replace

import pytest
from conftest import new_id, sqlite_only, video_flow
from starlette.testclient import TestClient
from test_objects_local import path_of

from gateway.app import create_app


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path) -> None:
    """Writes ``path`` until the disk is full (big writes, then ever smaller ones)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)


@sqlite_only  # the catalog's own full disk is SQLite's; VAST DB is a server of its own
def test_a_full_disk_is_507_and_deletes_still_work(small_disk, settings):
    app = create_app(replace(settings, data_dir=small_disk, require_allocation=True))
    with TestClient(app, base_url="http://testserver") as client:
        flow_id = new_id()
        assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
        first, second = client.post(f"/flows/{flow_id}/storage", json={"limit": 2}).json()["media_objects"]
        headers = {"Content-Type": first["put_url"]["content-type"]}
        payload = os.urandom(1024 * 1024)
        assert client.put(path_of(first["put_url"]["url"]), content=payload, headers=headers).status_code == 200
        body = {"object_id": first["object_id"], "timerange": "[0:0_2:0)"}
        assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
        assert any(small_disk.glob("*.reserve"))  # the catalog's spare space (catalog/sqlite/db.py)

        fill(small_disk / "filler")
        upload = client.put(path_of(second["put_url"]["url"]), content=payload, headers=headers)
        assert upload.status_code == 507, upload.text
        assert upload.json()["type"] == "InsufficientStorage" and "full" in upload.json()["summary"]
        assert not list((small_disk / "objects" / ".incoming").iterdir())  # the partial upload is gone

        other = new_id()
        refused = client.put(f"/flows/{other}", json=video_flow(other, new_id(), description="x" * 200_000))
        assert refused.status_code == 507, refused.text
        assert refused.json()["type"] == "InsufficientStorage" and "full" in refused.json()["summary"]

        deleted = client.delete(f"/flows/{flow_id}")  # frees space: allowed, from the catalog's reserve
        assert deleted.status_code in (202, 204), deleted.text
        if deleted.status_code == 202:
            location = deleted.headers["location"]
            while client.get(location).json().get("status") not in ("done", "error"):
                time.sleep(0.05)
            assert client.get(location).json()["status"] == "done"
        assert client.get(f"/flows/{flow_id}").status_code == 404
        objects = small_disk / "objects" / "objects"
        for _ in range(600):  # the bytes go right after the catalog rows: wait for them (at most 30 s)
            if not [p for p in objects.rglob("*") if p.is_file()]:
                break
            time.sleep(0.05)
        assert not [p for p in objects.rglob("*") if p.is_file()]  # the object's bytes went with it

        (small_disk / "filler").unlink()
        assert client.put(f"/flows/{other}", json=video_flow(other, new_id())).status_code == 201
        assert any(small_disk.glob("*.reserve"))  # put back once there is room
