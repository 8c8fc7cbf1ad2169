"""feeds.storage.objects against a real S3 API on loopback (moto's server), well and badly
behaved: what goes up, what is left alone, and what a failing storage leaves behind."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import pytest

from feeds.errors import UploadError
from feeds.storage.objects import Bucket, StoredObject, expected_etag, sync
from tests.conftest import BUCKET
from tests.fakes.s3 import Fault

SECRET = "access-key-3fKq9wZp"
MiB = 1024 * 1024


def obj(name: str, body: bytes | Path, **extra) -> StoredObject:
    return StoredObject(f"feeds/{SECRET}/{name}", body, extra.pop("content_type", "text/plain"),
                        "public, max-age=300", label=f"feeds/***/{name}", **extra)


def bucket(s3, **client_config) -> Bucket:
    return Bucket(s3.client(**client_config), BUCKET, "shop/", hidden=(SECRET,),
                  part_bytes=5 * MiB)


def stored(s3, name: str) -> bytes:
    return s3.client().get_object(Bucket=BUCKET, Key=f"shop/feeds/{SECRET}/{name}")["Body"].read()


LISTED = [f"feeds/{SECRET}/"]


# ---------------------------------------------------------------- the ETag


def test_expected_etag_is_the_md5_below_the_part_size(tmp_path: Path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    with path.open("rb") as fh:
        assert expected_etag(fh, part_bytes=1001) == hashlib.md5(b"x" * 1000).hexdigest()
        assert fh.tell() == 0


def test_expected_etag_of_parts_by_hand(tmp_path: Path):
    """S3's multipart ETag: MD5 of the concatenated binary MD5s of the parts, "-<count>"."""
    data = os.urandom(2500)
    parts = [data[0:1000], data[1000:2000], data[2000:]]
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    path = tmp_path / "f"
    path.write_bytes(data)
    with path.open("rb") as fh:
        assert expected_etag(fh, part_bytes=1000) == f"{digest}-3"
    path.write_bytes(data[:2000])  # exactly two parts: no empty third
    with path.open("rb") as fh:
        assert expected_etag(fh, part_bytes=1000).endswith("-2")


def test_a_multipart_object_gets_the_etag_we_expect_and_is_not_uploaded_again(s3,
                                                                             tmp_path: Path):
    big = tmp_path / "big.xml"
    big.write_bytes(os.urandom(11 * MiB))  # three parts of 5 MiB (S3's smallest part)
    b = bucket(s3)
    first = sync(b, [[obj("big.xml", big)]], listed=LISTED)
    assert first.uploaded == [f"feeds/{SECRET}/big.xml"]
    assert any("partNumber=3" in q for m, _, q in s3.requests if m == "PUT")
    etag = b.etags(LISTED[0])[f"feeds/{SECRET}/big.xml"]
    with big.open("rb") as fh:
        assert etag == expected_etag(fh, 5 * MiB) and etag.endswith("-3")
    s3.clear()
    again = sync(b, [[obj("big.xml", big)]], listed=LISTED)
    assert again.uploaded == [] and again.unchanged == 1
    assert s3.puts() == []


# ---------------------------------------------------------------- what goes up


def test_only_what_is_missing_or_different_is_uploaded(s3):
    b = bucket(s3)
    objects = [obj(f"f{i}.xml", f"body {i}".encode()) for i in range(4)]
    assert len(sync(b, [objects], listed=LISTED).uploaded) == 4
    s3.client().delete_object(Bucket=BUCKET, Key=f"shop/feeds/{SECRET}/f1.xml")
    objects[2] = obj("f2.xml", b"changed")
    s3.clear()

    done = sync(b, [objects], listed=LISTED)

    assert sorted(done.uploaded) == [f"feeds/{SECRET}/f1.xml", f"feeds/{SECRET}/f2.xml"]
    assert done.unchanged == 2
    assert sorted(p.rsplit("/", 1)[1] for p in s3.puts()) == ["f1.xml", "f2.xml"]
    assert s3.count("GET") == 1  # one listing page
    assert stored(s3, "f2.xml") == b"changed"


def test_always_objects_go_up_every_time(s3):
    b = bucket(s3)
    page = obj("index.html", b"<p>status</p>", always=True)
    sync(b, [[page]], listed=LISTED)
    s3.clear()
    assert sync(b, [[page]], listed=LISTED).uploaded == [page.key]
    assert len(s3.puts()) == 1


def test_each_object_is_served_with_its_headers(s3):
    b = bucket(s3)
    sync(b, [[obj("google.xml", b"\x1f\x8bgz", content_type="application/xml; charset=utf-8",
                  content_encoding="gzip")]])
    url = f"{s3.endpoint_url}/{BUCKET}/shop/feeds/{SECRET}/google.xml"
    head = s3.client().head_object(Bucket=BUCKET, Key=f"shop/feeds/{SECRET}/google.xml")
    assert head["ContentType"] == "application/xml; charset=utf-8"
    assert head["ContentEncoding"] == "gzip"
    assert head["CacheControl"] == "public, max-age=300"
    assert head["ETag"].strip('"') == hashlib.md5(b"\x1f\x8bgz").hexdigest()
    assert url.startswith("http://127.0.0.1:")


def test_batches_go_in_order_and_a_failed_batch_stops_the_next(s3):
    b = bucket(s3)
    s3.faults.append(Fault(key_contains="shard", status=403))
    with pytest.raises(UploadError):
        sync(b, [[obj("shard.json", b"{}")], [obj("loader.js", b"js")]], listed=LISTED)
    assert s3.puts("loader.js") == []


def test_stale_keys_are_deleted_and_others_kept(s3):
    b = bucket(s3)
    sync(b, [[obj("a.xml", b"a"), obj("old.xml", b"o"), obj("keep.xml", b"k")]])
    done = sync(b, [[obj("a.xml", b"a")]], listed=LISTED,
                stale=lambda key: key.endswith("old.xml"))
    assert done.deleted == [f"feeds/{SECRET}/old.xml"]
    assert sorted(b.etags(LISTED[0])) == [f"feeds/{SECRET}/a.xml", f"feeds/{SECRET}/keep.xml"]


def test_a_listing_of_many_pages_is_read_whole(s3):
    client = s3.client()
    for i in range(7):
        client.put_object(Bucket=BUCKET, Key=f"shop/t/site/index/{i}.json", Body=b"{}")
    s3.clear()
    b = Bucket(client, BUCKET, "shop/", page_keys=3)
    assert sorted(b.etags("t/site/")) == [f"t/site/index/{i}.json" for i in range(7)]
    assert s3.count("GET") == 3


# ---------------------------------------------------------------- a storage that misbehaves


def test_server_errors_are_retried_with_backoff_and_then_succeed(s3):
    s3.faults.append(Fault(key_contains="f0.xml", status=503, times=2))
    done = sync(bucket(s3, retries={"mode": "standard", "total_max_attempts": 4}),
                [[obj("f0.xml", b"x")]], listed=LISTED)
    assert done.uploaded == [f"feeds/{SECRET}/f0.xml"]
    assert len(s3.puts("f0.xml")) == 3
    assert stored(s3, "f0.xml") == b"x"


def test_a_failing_put_keeps_the_previous_object_and_fails_in_one_line(s3):
    b = bucket(s3, retries={"mode": "standard", "total_max_attempts": 2})
    sync(b, [[obj("f0.xml", b"old 0"), obj("f1.xml", b"old 1")]])
    s3.clear()
    s3.faults.append(Fault(key_contains="f1.xml", status=500))

    with pytest.raises(UploadError) as caught:
        sync(b, [[obj("f0.xml", b"new 0"), obj("f1.xml", b"new 1"), obj("f2.xml", b"2")]],
             listed=LISTED)

    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    assert "1 of 3 objects not uploaded" in message and "feeds/***/f1.xml" in message
    assert "InternalError" in message and "the previous objects stay" in message
    assert len(s3.puts("f1.xml")) == 2  # tried, retried once, given up
    assert stored(s3, "f1.xml") == b"old 1"
    assert stored(s3, "f0.xml") == b"new 0" and stored(s3, "f2.xml") == b"2"

    s3.clear()  # the storage is well again: the next run uploads only what is missing
    done = sync(b, [[obj("f0.xml", b"new 0"), obj("f1.xml", b"new 1"), obj("f2.xml", b"2")]],
                listed=LISTED)
    assert done.uploaded == [f"feeds/{SECRET}/f1.xml"] and done.unchanged == 2


def test_a_refusal_is_not_retried(s3):
    s3.faults.append(Fault(status=403))
    with pytest.raises(UploadError, match="AccessDenied"):
        sync(bucket(s3), [[obj("f0.xml", b"x")]])
    assert len(s3.puts()) == 1


def test_a_slow_storage_times_out_is_retried_and_succeeds(s3):
    s3.faults.append(Fault(key_contains="f0.xml", delay_s=2.0, times=1))
    b = bucket(s3, read_timeout=0.5, retries={"mode": "standard", "total_max_attempts": 3})
    started = time.monotonic()
    done = sync(b, [[obj("f0.xml", b"x")]])
    assert done.uploaded and time.monotonic() - started < 10
    assert len(s3.puts("f0.xml")) == 2


def test_a_storage_that_never_answers_in_time_fails_in_bounded_time(s3):
    s3.faults.append(Fault(delay_s=1.5))
    b = bucket(s3, read_timeout=0.3, connect_timeout=0.3,
               retries={"mode": "standard", "total_max_attempts": 2})
    started = time.monotonic()
    with pytest.raises(UploadError, match="1 of 1 objects not uploaded"):
        sync(b, [[obj("f0.xml", b"x")]])
    assert time.monotonic() - started < 10


def test_a_dropped_connection_is_retried(s3):
    s3.faults.append(Fault(key_contains="f0.xml", drop=True, times=1))
    done = sync(bucket(s3, retries={"mode": "standard", "total_max_attempts": 3}),
                [[obj("f0.xml", b"x")]])
    assert done.uploaded and stored(s3, "f0.xml") == b"x"


def test_a_failing_listing_uploads_nothing(s3):
    s3.faults.append(Fault(method="GET", status=500))
    with pytest.raises(UploadError, match="^upload to s3://feeds-test/shop failed: .*Internal"):
        sync(bucket(s3, retries={"mode": "standard", "total_max_attempts": 1}),
             [[obj("f0.xml", b"x")]], listed=LISTED)
    assert s3.puts() == []


def test_an_unreachable_storage_is_one_line_without_the_key(s3):
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="eu-north-1",
        config=Config(s3={"addressing_style": "path"}, connect_timeout=0.5,
                      retries={"mode": "standard", "total_max_attempts": 2}))
    with pytest.raises(UploadError) as caught:
        sync(Bucket(client, BUCKET, "shop/", hidden=(SECRET,)), [[obj("f0.xml", b"x")]])
    assert "Could not connect" in str(caught.value) and SECRET not in str(caught.value)


def test_a_failed_multipart_upload_keeps_the_previous_object_and_leaves_no_parts(
        s3, tmp_path: Path):
    big = tmp_path / "big.xml"
    big.write_bytes(os.urandom(11 * MiB))
    b = bucket(s3, retries={"mode": "standard", "total_max_attempts": 1})
    sync(b, [[obj("big.xml", b"the previous version")]])
    s3.faults.append(Fault(key_contains="big.xml", status=500))  # every part's PUT

    with pytest.raises(UploadError, match="1 of 1 objects not uploaded"):
        sync(b, [[obj("big.xml", big)]], listed=LISTED)

    assert stored(s3, "big.xml") == b"the previous version"
    uploads = s3.client().list_multipart_uploads(Bucket=BUCKET)
    assert uploads.get("Uploads", []) == []
