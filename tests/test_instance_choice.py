"""One answer to "which instance do I read from" (Storage.readable), asked by every reader:
object delivery, playlists, the timerange file and instance copies."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import new_id, video_flow
from starlette.testclient import TestClient

from catalog.errors import Invalid
from catalog.store import Instance, SegmentLocation
from gateway.app import create_app
from streaming.storage.interface import BackendInfo
from streaming.storage.localdisk import LocalDiskStore
from streaming.storage.registry import Storage

A, B, GONE = (str(uuid.uuid4()) for _ in range(3))


def local(tmp_path: Path, backend_id: str, label: str, default: bool = False) -> LocalDiskStore:
    info = BackendInfo(backend_id, label, "tests", "local disk", default_storage=default)
    return LocalDiskStore(info, tmp_path / label, "http://testserver", tmp_path / "key", 1024)


def test_the_default_backend_wins_then_catalog_order(tmp_path):
    with_default = Storage([local(tmp_path, A, "a", default=True), local(tmp_path, B, "b")])
    on_b, on_a, on_gone = Instance(B, "kb"), Instance(A, "ka"), Instance(GONE, "kg")
    picked = with_default.readable([on_gone, on_b, on_a])
    assert picked is not None and (picked.store.info.id, picked.key) == (A, "ka")
    picked = with_default.readable([on_gone, on_b])
    assert picked is not None and (picked.store.info.id, picked.key) == (B, "kb")
    assert with_default.readable([on_gone]) is None and with_default.readable([]) is None
    no_default = Storage([local(tmp_path, A, "a"), local(tmp_path, B, "b")])
    picked = no_default.readable([on_b, on_a])
    assert picked is not None and picked.store.info.id == B


def test_the_write_target_is_named_or_the_default(tmp_path):
    with_default = Storage([local(tmp_path, A, "a", default=True), local(tmp_path, B, "b")])
    assert with_default.target(None).info.id == A and with_default.target(B).info.id == B
    with pytest.raises(Invalid, match="names no storage backend"):
        with_default.target(GONE)
    with pytest.raises(Invalid, match="no default storage backend"):
        Storage([local(tmp_path, A, "a")]).target(None)


@pytest.fixture
def two_backends(settings, tmp_path):
    """A gateway on two local-disk backends: ``a`` (the default) and ``b``."""
    config = tmp_path / "storage.json"
    config.write_text(
        json.dumps(
            {
                "backends": [
                    {"type": "local", "id": B, "label": "b", "path": "b"},
                    {"type": "local", "id": A, "label": "a", "path": "a", "default": True},
                ]
            }
        )
    )
    app = create_app(replace(settings, storage_config=config, require_allocation=True))
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_every_reader_reads_the_default_backends_copy(two_backends, settings):
    client = two_backends
    flow_id = new_id()
    flow = video_flow(flow_id, new_id(), status="closed_complete")
    assert client.put(f"/flows/{flow_id}", json=flow).status_code == 201
    # the object is written to b first, so b's instance comes first in the catalog
    (obj,) = client.post(f"/flows/{flow_id}/storage", json={"limit": 1, "storage_id": B}).json()["media_objects"]
    payload = b"\x47" * 188 * 10
    put = obj["put_url"]
    assert client.put(path_of(put["url"]), content=payload, headers={"Content-Type": put["content-type"]}).is_success
    object_id = obj["object_id"]
    assert client.post(f"/flows/{flow_id}/segments", json={"object_id": object_id, "timerange": "[0:0_1:0)"}).is_success
    # the copy reads from b, the only instance so far
    assert client.post(f"/objects/{object_id}/instances", json={"storage_id": A}).status_code == 201
    labels = [u["label"] for u in client.get(f"/objects/{object_id}").json()["get_urls"]]
    assert labels == ["b", "a"]

    redirect = client.get(f"/objects/{object_id}/content?mode=redirect", follow_redirects=False)
    assert redirect.status_code == 302 and f"/_store/{A}/" in redirect.headers["location"]
    segment = client.get(f"/flows/{flow_id}/content?at=0:5&mode=redirect", follow_redirects=False)
    assert segment.status_code == 302 and f"/_store/{A}/" in segment.headers["location"]
    # playlists sign the readable instance among those the catalog hands them (SQLite hands only
    # an object's home instance, its first): given both, they sign the default backend's
    playlists = client.app.state.playlists
    key = client.get(f"/objects/{object_id}/content?mode=redirect", follow_redirects=False).headers["location"]
    key = urlsplit(key).path.split(f"/_store/{A}/", 1)[1]
    both = SegmentLocation(0, 1, object_id, None, (Instance(B, key), Instance(A, key)))
    (uri,) = playlists.uris([both], "presigned", "http://testserver", 60, ".ts")
    assert f"/_store/{A}/" in uri

    # with b's bytes gone, every reader still answers: none of them reads b
    for path in (settings.data_dir / "b").rglob("*"):
        if path.is_file():
            path.unlink()
    assert client.get(f"/objects/{object_id}/content?mode=proxy").content == payload
    assert client.get(f"/flows/{flow_id}/content?at=0:5&mode=proxy").content == payload
    assert client.get(f"/flows/{flow_id}/media.ts").content == payload
    assert client.get(path_of(uri)).content == payload
    # a copy needs a readable source: b's instance is removed, a's stays
    assert client.delete(f"/objects/{object_id}/instances?storage_id={B}").status_code == 204
    assert client.post(f"/objects/{object_id}/instances", json={"storage_id": B}).status_code == 201
    assert client.get(f"/objects/{object_id}/content?mode=proxy").content == payload
