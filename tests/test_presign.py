"""The fast SigV4 presigner: byte-identical to botocore's generate_presigned_url for the same inputs.

No S3 server installable here verifies query-string SigV4 signatures (moto checks header
signatures only; s3rver skips SigV4 checks), so botocore is the reference the URLs are checked
against; test_objects_s3 uses them against a running S3 server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.storage.interface import BackendInfo, object_key
from streaming.storage.localdisk import LocalDiskStore
from streaming.storage.sigv4 import Credentials, Presigner

NOW = dt.datetime(2026, 11, 24, 12, 30, 5, tzinfo=dt.UTC)


def botocore_client(endpoint: str, style: str, token: str | None = None):
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        "s3",
        region_name="eu-west-2",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )


def reference(client, operation: str, params: dict, expires: int) -> str:
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        return client.generate_presigned_url(operation, Params=params, ExpiresIn=expires)


CASES = [
    ("http://127.0.0.1:9000", "path"),
    ("https://s3.example.com", "path"),
    ("https://s3.example.com", "virtual"),
    ("http://vast.local:8080", "virtual"),
]


@pytest.mark.parametrize(("endpoint", "style"), CASES)
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//token+/="])
@pytest.mark.parametrize("key", ["objects/ab/plain", "a b+c%d~e/é/ü", "x?y#z&w=v", "trailing/"])
def test_urls_are_byte_identical_to_botocore(endpoint, style, token, key):
    client = botocore_client(endpoint, style, token)
    ours = Presigner(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
        "eu-west-2",
        endpoint,
        addressing_style=style,
    )
    assert ours.presign("GET", "media", key, 900, now=NOW) == reference(
        client, "get_object", {"Bucket": "media", "Key": key}, 900
    )
    assert ours.presign("PUT", "media", key, 3600, now=NOW, signed_headers={"content-type": "video/mp2t"}) == reference(
        client, "put_object", {"Bucket": "media", "Key": key, "ContentType": "video/mp2t"}, 3600
    )
    assert ours.presign("PUT", "media", key, 60, now=NOW, query={"partNumber": "3", "uploadId": "u/p+1"}) == reference(
        client, "upload_part", {"Bucket": "media", "Key": key, "PartNumber": 3, "UploadId": "u/p+1"}, 60
    )


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_any_key_matches_botocore(key):
    client = botocore_client("http://127.0.0.1:9000", "path")
    ours = Presigner(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), "eu-west-2", "http://127.0.0.1:9000"
    )
    assert ours.presign("GET", "media", key, 900, now=NOW) == reference(
        client, "get_object", {"Bucket": "media", "Key": key}, 900
    )


def test_signing_key_is_derived_once_per_day():
    ours = Presigner(Credentials("a", "b"), "us-east-1", "http://127.0.0.1:1")
    for second in range(50):
        ours.presign("GET", "b", f"k{second}", 60, now=NOW + dt.timedelta(seconds=second))
    assert ours.key_derivations == 1
    ours.presign("GET", "b", "k", 60, now=NOW + dt.timedelta(days=1))
    assert ours.key_derivations == 2


@pytest.mark.parametrize(("endpoint", "style"), CASES)
def test_bulk_presigning_matches_one_by_one(endpoint, style):
    ours = Presigner(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        "eu-west-2",
        endpoint,
        addressing_style=style,
    )
    client = botocore_client(endpoint, style)
    # keys that need escaping, and keys that need none (checked all at once, then used as they are)
    for keys in (["objects/ab/plain.ts", "a b+c%d~e/é/ü", "x?y#z&w=v", "trailing/"], ["objects/ab/p-l_a.i~n.ts", "b/"]):
        with mock.patch("streaming.storage.sigv4.time.time", return_value=NOW.timestamp()):
            bulk = ours.presign_get_many("media", keys, 900)
        assert bulk == [reference(client, "get_object", {"Bucket": "media", "Key": k}, 900) for k in keys]


@pytest.mark.parametrize("secret", [b"k" * 32, b"long" * 40])  # keys past HMAC's block are hashed first
def test_local_disk_bulk_urls_match_one_by_one(tmp_path, secret):
    key_file = tmp_path / "key"
    key_file.write_bytes(secret)
    key_file.chmod(0o600)
    store = LocalDiskStore(
        BackendInfo(str(uuid.uuid4()), "local", "local", "disk"), tmp_path / "objects", "http://gw", key_file
    )
    asyncio.run(store.start())
    keys = [object_key(str(uuid.uuid4()), "video/mp2t") for _ in range(50)] + ["objects/x/a b+é.ts"]
    for _ in range(3):  # both within one second, so both carry the same expiry
        second = int(time.time())
        bulk, single = store.get_urls(keys, 600), [store.get_url(k, 600) for k in keys]
        if int(time.time()) == second:
            break
    assert bulk == single
    assert store.signer is not None
    expires = bulk[0].split("expires=")[1].split("&")[0]
    assert store.signer.verify("GET", store.info.id, keys[0], expires, bulk[0].rsplit("signature=", 1)[1]) is None


def test_a_pages_urls_made_in_bulk_are_those_made_one_object_at_a_time(tmp_path):
    from catalog.store import Instance, TagFilter
    from streaming.storage.get_urls import UrlFilter, build_get_urls, page_get_urls
    from streaming.storage.registry import Storage

    key_file = tmp_path / "key"
    key_file.write_bytes(b"k" * 32)
    key_file.chmod(0o600)
    hot = LocalDiskStore(
        BackendInfo(str(uuid.uuid4()), "hot", "local", "disk", True, tags={"tier": "hot"}),
        tmp_path,
        "http://gw",
        key_file,
    )
    cold = LocalDiskStore(BackendInfo(str(uuid.uuid4()), "cold", "local", "disk"), tmp_path, "http://gw", key_file)
    storage = Storage([hot, cold])
    asyncio.run(storage.start())
    on = {"hot": Instance(hot.info.id, "objects/a.ts"), "cold": Instance(cold.info.id, "objects/b c.ts")}
    gone = Instance(str(uuid.uuid4()), "objects/elsewhere.ts")  # a backend no longer configured
    objects = [
        ((), ()),
        ((on["hot"],), ()),
        ((on["cold"], on["hot"]), (("https://cdn.example/x", "cdn"),)),
        ((gone, on["cold"]), ()),
        ((), (("https://cdn.example/y", "cdn"), ("https://other.example/y", "other"))),
    ]
    filters = [
        UrlFilter(),
        UrlFilter(accept_get_urls=[]),
        UrlFilter(accept_get_urls=["cold", "cdn"]),
        UrlFilter(accept_storage_ids=[hot.info.id]),
        UrlFilter(presigned=True),
        UrlFilter(presigned=False),
        UrlFilter(verbose_storage=True),
        UrlFilter(backend_tags=TagFilter({"tier": ["hot"]})),
    ]
    for flt in filters:
        for _ in range(3):  # both within one second, so both carry the same expiry
            second = int(time.time())
            bulk = page_get_urls(storage, objects, flt, 600)
            single = [build_get_urls(storage, instances, urls, flt, 600) for instances, urls in objects]
            if int(time.time()) == second:
                break
        assert bulk == single, flt
