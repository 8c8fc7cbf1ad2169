"""Object storage: copies of the published files in a bucket, behind an injected S3 client.

The local files stay the truth; a bucket only mirrors them. `sync` makes the
bucket hold each planned object, uploading only what is missing or different:

- one listing (ListObjectsV2, 1,000 keys a page) per folder gives the storage's
  ETags; a local file's expected ETag is its MD5 (one PUT), or, from
  `MULTIPART_BYTES` on, the MD5 of its parts' MD5s and "-<parts>" (a multipart
  upload in parts of that size, which is how S3 computes it);
- an object whose ETag matches is left alone, so a round with no change uploads
  nothing but the objects marked `always` (the static status page);
- one PutObject per object below `MULTIPART_BYTES`, with Content-MD5 (the storage
  refuses a body that arrived damaged); a multipart upload through the library
  above it. Either replaces the object only when complete: a failed upload
  leaves the previous object in place;
- retries with backoff are the client's (botocore's "standard" mode: timeouts,
  connection errors, throttling and 5xx), configured where the client is made;
- objects go in batches, one after the other: a batch starts only when the
  previous one is complete (the index shards before the loader that names
  them). Within a batch, `PARALLEL` uploads run at once, and one failed object
  does not stop the others, so the next round has less left to do.

A failure is one `UploadError` line that names how many objects were not
uploaded and the first reason, with the caller's secrets (the access key is
part of every feed's key) replaced by `***`.

The storage's ETag is a plain MD5 for objects stored without SSE-KMS or SSE-C (AWS
S3 "Common Response Headers"/"Object integrity"; MinIO, R2 and GCS's XML API alike).
Where a storage's ETag is something else, every round re-uploads every object:
correct, only slower.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from feeds.errors import UploadError

__all__ = ["MULTIPART_BYTES", "PARALLEL", "Bucket", "StoredObject", "Synced", "expected_etag",
           "sync"]

MULTIPART_BYTES = 64 * 1024 * 1024  # issue 19: one PUT per object, multipart above 64 MB
PARALLEL = 8  # uploads at once (botocore keeps 10 connections per client)
_MULTIPART_THREADS = 2  # parts in flight for one large object: 2 x 64 MB of memory
_READ = 1024 * 1024
_DELETE_PAGE = 1000  # DeleteObjects takes at most 1,000 keys


@dataclass(frozen=True)
class StoredObject:
    """One object to hold: its key (below the bucket's prefix), its bytes (a file, read
    when uploaded, or bytes) and the headers the storage serves it with.

    :param label: how messages name it (the key with secrets left out).
    :param always: uploaded every round, whatever the storage holds (the status page).
    """

    key: str
    source: Path | bytes
    content_type: str
    cache_control: str
    content_encoding: str = ""
    label: str = ""
    always: bool = False

    @contextmanager
    def opened(self) -> Iterator[BinaryIO]:
        """The bytes to hash and upload: ONE open file, so a file replaced meanwhile
        (the build renames over it) is uploaded whole, old or new, as hashed."""
        if isinstance(self.source, bytes):
            yield io.BytesIO(self.source)
            return
        with self.source.open("rb") as fh:
            yield fh

    @property
    def shown(self) -> str:
        return self.label or self.key


@dataclass
class Synced:
    """What one `sync` did."""

    uploaded: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {"uploaded": len(self.uploaded), "unchanged": self.unchanged,
                "deleted": len(self.deleted)}


def expected_etag(fh: BinaryIO, part_bytes: int = MULTIPART_BYTES) -> str:
    """The ETag the storage gives `fh`'s bytes: their MD5 in hex below `part_bytes`,
    else the MD5 of the parts' MD5s with "-<parts>" (S3's multipart ETag). Reads from
    the start and leaves `fh` at its start."""
    fh.seek(0)
    whole, parts, size, part, in_part = hashlib.md5(), [], 0, hashlib.md5(), 0
    while chunk := fh.read(min(_READ, part_bytes - in_part)):
        whole.update(chunk)
        part.update(chunk)
        size += len(chunk)
        in_part += len(chunk)
        if in_part == part_bytes:
            parts.append(part.digest())
            part, in_part = hashlib.md5(), 0
    fh.seek(0)
    if size < part_bytes:
        return whole.hexdigest()
    if in_part:
        parts.append(part.digest())
    return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


class Bucket:
    """One bucket and key prefix, through an S3 client (boto3's, or anything with its
    `list_objects_v2`, `put_object`, `upload_fileobj` and `delete_objects`).

    :param hidden: strings never to show in a message (the access key).
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "", *,
                 hidden: Sequence[str] = (), part_bytes: int = MULTIPART_BYTES,
                 page_keys: int = 1000) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.hidden = tuple(h for h in hidden if h)
        self.part_bytes, self.page_keys = part_bytes, page_keys

    @property
    def url(self) -> str:
        """`s3://bucket/prefix`, for messages."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def etags(self, folder: str) -> dict[str, str]:
        """Key (below the prefix) -> ETag of every object under `folder`."""
        found: dict[str, str] = {}
        args = {"Bucket": self.bucket, "Prefix": self.prefix + folder, "MaxKeys": self.page_keys}
        while True:
            page = self.client.list_objects_v2(**args)
            for entry in page.get("Contents", ()):
                found[entry["Key"][len(self.prefix):]] = str(entry.get("ETag", "")).strip('"')
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return found
            args["ContinuationToken"] = token

    def put(self, obj: StoredObject, body: BinaryIO, etag: str) -> None:
        """Upload `body` as `obj`: one PUT with Content-MD5, or multipart when large."""
        extra = {"ContentType": obj.content_type, "CacheControl": obj.cache_control}
        if obj.content_encoding:
            extra["ContentEncoding"] = obj.content_encoding
        key = self.prefix + obj.key
        if "-" not in etag:
            md5 = base64.b64encode(bytes.fromhex(etag)).decode("ascii")
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentMD5=md5,
                                   **extra)
            return
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=self.part_bytes,
                                multipart_chunksize=self.part_bytes,
                                max_concurrency=_MULTIPART_THREADS)
        self.client.upload_fileobj(body, self.bucket, key, ExtraArgs=extra, Config=config)

    def delete(self, keys: Sequence[str]) -> None:
        """Delete `keys` (below the prefix), 1,000 a request."""
        for start in range(0, len(keys), _DELETE_PAGE):
            page = keys[start:start + _DELETE_PAGE]
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": self.prefix + k} for k in page], "Quiet": True})
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise UploadError(self.shown(f"upload to {self.url} failed: {len(errors)} "
                                             f"objects not deleted "
                                             f"({first.get('Code', '')}: "
                                             f"{first.get('Message', '')})"))

    def shown(self, text: str) -> str:
        """`text` with the hidden strings replaced by ***."""
        for secret in self.hidden:
            text = text.replace(secret, "***")
        return text


def sync(bucket: Bucket, batches: Sequence[Sequence[StoredObject]], *,
         listed: Iterable[str] = (), stale: Callable[[str], bool] = lambda key: False,
         everything: bool = False) -> Synced:
    """Make `bucket` hold every object of `batches`, uploading only what is missing or
    different, then delete the listed keys that `stale` says must go.

    :param listed: the folders (below the prefix) to list; an object outside them is
        uploaded every time.
    :param stale: whether a listed key that no batch holds must be deleted.
    :param everything: upload every object, changed or not (headers changed).
    :raises UploadError: one line; the objects that did go up stay up.
    """
    done = Synced()
    try:
        remote: dict[str, str] = {}
        for folder in listed:
            remote.update(bucket.etags(folder))
        for batch in batches:
            _upload_batch(bucket, batch, {} if everything else remote, done)
        planned = {obj.key for batch in batches for obj in batch}
        gone = sorted(key for key in remote if key not in planned and stale(key))
        if gone:
            bucket.delete(gone)
            done.deleted = gone
    except UploadError:
        raise
    except Exception as exc:  # a listing or deletion: botocore's errors, after its retries
        raise UploadError(bucket.shown(f"upload to {bucket.url} failed: {_reason(exc)}")
                          ) from None
    return done


def _upload_batch(bucket: Bucket, batch: Sequence[StoredObject], remote: dict[str, str],
                  done: Synced) -> None:
    """Upload what differs in `batch`, `PARALLEL` at once; UploadError after all were tried."""
    def one(obj: StoredObject) -> tuple[StoredObject, bool, BaseException | None]:
        try:
            with obj.opened() as body:
                etag = expected_etag(body, bucket.part_bytes)
                if not obj.always and remote.get(obj.key) == etag:
                    return obj, False, None
                bucket.put(obj, body, etag)
            return obj, True, None
        except Exception as exc:  # botocore and s3transfer errors, after their retries
            return obj, False, exc

    with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="upload") as pool:
        results = list(pool.map(one, batch))
    failed = [(obj, exc) for obj, _, exc in results if exc is not None]
    done.uploaded += [obj.key for obj, uploaded, exc in results if uploaded]
    done.unchanged += sum(1 for _, uploaded, exc in results if not uploaded and exc is None)
    if failed:
        obj, exc = failed[0]
        raise UploadError(bucket.shown(
            f"upload to {bucket.url} failed: {len(failed)} of {len(batch)} objects not "
            f"uploaded ({obj.shown}: {_reason(exc)}); the previous objects stay"))


def _reason(exc: BaseException) -> str:
    """The first line of a storage error, naming missing credentials plainly."""
    name = type(exc).__name__
    if name in {"NoCredentialsError", "PartialCredentialsError"}:
        return ("no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE, or give the machine a role)")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text or name
