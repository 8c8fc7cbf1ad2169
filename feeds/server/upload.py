"""The upload stage: after the local publish, copy what `serve` serves to `[publish] target`.

Each object's key is the target's prefix plus the URL path `serve` answers at, so a
CDN in front of the bucket serves the same URLs under `[publish] public_url`:

    feeds/<access_key>/<file>           each published feed and marketplace payload
    feeds/<access_key>/<file>.gz        its gzip twin (application/gzip), unless
                                        gzip_objects = true: then the twin's bytes go
                                        under <file> with Content-Encoding: gzip
    t/<site_key>/index/<n>.json         the current tracking index's shards
    t/<site_key>/loader.js              the loader, rendered for public_url (after its shards)
    status/<access_key>/index.html      the static status page (`static_status_page`)

Everything but the status page is `Cache-Control: public, max-age=<max_age_s>`; the
status page is `no-cache` (a person wants this run's outcome) and is uploaded every
round, after the refresh's outcome is recorded, so it shows it. The rest goes up
only when missing or different (`feeds.storage.objects.sync`), so a round with no
change uploads the status page alone.

What the config no longer builds goes: a feed object whose file no enabled channel
builds (as `serve` stops serving a withdrawn feed), a `.gz` twin once gzip_objects
is on, and index shards past the current count. A feed that failed to build stays
(its last good version is still the one to serve).

Shards are stored under their shard number, not their version, as `serve` serves
them; the loader asks for `<n>.json?v=<version>`, which a CDN may key its cache
on. Both expire after max_age_s, so a page sees a new index within minutes.

The S3 client is injected (tests pass one bound to moto's server); `make_client`
makes boto3's from `[publish]`, with credentials from the standard AWS chain.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

from feeds.config import Config, PublishSettings, require
from feeds.errors import ConfigError
from feeds.events.index import read_index, shard_file
from feeds.formats.templates import make_env
from feeds.pipeline.plan import feed_specs
from feeds.server.context import ServerContext
from feeds.server.feeds_routes import CONTENT_TYPES
from feeds.server.status_page import static_status_page
from feeds.server.tracking_routes import JS_TYPE, JSON_TYPE, render_loader
from feeds.storage.layout import Layout
from feeds.storage.lock import UPLOAD, held
from feeds.storage.objects import Bucket, StoredObject, Synced, sync

__all__ = ["STATUS_CACHE", "Uploader", "make_client", "publishing"]

log = logging.getLogger("feeds.server.upload")

STATUS_CACHE = "no-cache"
HTML_TYPE = "text/html; charset=utf-8"
GZIP_TYPE = "application/gzip"


def publishing(cfg: Config) -> bool:
    """Whether runs upload to object storage (`[publish] target` is set)."""
    return bool(cfg.publish.target)


def make_client(publish: PublishSettings) -> Any:
    """boto3's S3 client for `[publish]`: credentials from the standard AWS chain
    (environment, shared files, SSO, the instance's role), never from our config.

    Checksums only where S3 requires them: other storage (MinIO, R2, GCS) does not all
    take the CRC trailers boto3 sends by default, and every PUT carries Content-MD5.
    A custom endpoint gets path-style addressing, which every S3 API accepts.

    :raises ConfigError: boto3 is not installed, or botocore refuses the settings.
    """
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ImportError:
        raise ConfigError("publish.target: uploading needs boto3: pip install "
                          "'vendre-feeds[s3]'") from None
    config = BotoConfig(
        connect_timeout=publish.timeout_s, read_timeout=publish.timeout_s,
        retries={"mode": "standard", "total_max_attempts": publish.retries + 1},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if publish.endpoint_url else None,
        user_agent_extra="vendre-feeds")
    try:
        return boto3.session.Session().client(
            "s3", endpoint_url=publish.endpoint_url or None,
            region_name=publish.region or None, config=config)
    except Exception as exc:  # botocore's: an invalid region, a broken ~/.aws/config
        raise ConfigError(f"publish: no S3 client for {publish.target}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
                          ) from None


class Uploader:
    """One shop's uploads: `files()` after a build, `status_page()` after its outcome
    is recorded. The client is made on first use unless one is given."""

    def __init__(self, cfg: Config, client: Any = None, *,
                 env: Environment | None = None) -> None:
        self.cfg = cfg
        self.key = require(cfg.server.access_key, "server.access_key",
                           "the feeds' object keys contain it, as their URLs do")
        self.layout = Layout(cfg.data_dir)
        self.env = env or make_env(cfg.build.templates_dir or None)
        self._client = client
        p = cfg.publish
        self.max_age = f"public, max-age={p.max_age_s}"
        self.feeds_folder = f"feeds/{self.key}/"
        self.tracking_folder = f"t/{cfg.tracking.site_key}/" if cfg.tracking.site_key else ""

    @property
    def bucket(self) -> Bucket:
        if self._client is None:
            self._client = make_client(self.cfg.publish)
        return Bucket(self._client, self.cfg.publish.bucket, self.cfg.publish.prefix,
                      hidden=(self.key,))

    def files(self, *, everything: bool = False) -> Synced:
        """Upload the published feeds, payloads, index shards and loader that the storage
        lacks or holds otherwise, and delete what the config no longer builds.

        :raises UploadError: one line; the previous objects stay.
        :raises LockBusy: another upload runs on this data dir.
        """
        with held(self.layout, UPLOAD):
            shards, stale_shard = self._shards()
            listed = [self.feeds_folder] + ([self.tracking_folder] if self.tracking_folder
                                            else [])
            synced = sync(self.bucket, [self._feeds() + shards, self._loader()], listed=listed,
                          stale=lambda key: self._stale_feed(key) or stale_shard(key),
                          everything=everything)
        log.info("uploaded %d objects to %s (%d unchanged, %d deleted)",
                 len(synced.uploaded), self.cfg.publish.target, synced.unchanged,
                 len(synced.deleted))
        return synced

    def status_page(self, now: datetime | None = None) -> Synced:
        """Render the static status page from the data dir and upload it.

        :raises UploadError: one line; the previous page stays.
        """
        ctx = ServerContext(self.cfg, self.layout, self.env)
        page = static_status_page(ctx, now or datetime.now(UTC)).encode("utf-8")
        obj = StoredObject(f"status/{self.key}/index.html", page, HTML_TYPE, STATUS_CACHE,
                           label="status/***/index.html", always=True)
        return sync(self.bucket, [[obj]])

    # -- what goes up

    def _feeds(self) -> list[StoredObject]:
        gzipped = self.cfg.publish.gzip_objects
        found = []
        for feed in self.layout.published():
            plain = self.layout.feeds / feed.file
            twin = plain.with_name(plain.name + ".gz")
            content_type = feed.content_type or CONTENT_TYPES[feed.file.rsplit(".", 1)[-1]]
            key, label = self.feeds_folder + feed.file, f"feeds/***/{feed.file}"
            if gzipped and twin.is_file():
                found.append(StoredObject(key, twin, content_type, self.max_age, "gzip", label))
                continue
            found.append(StoredObject(key, plain, content_type, self.max_age, label=label))
            if twin.is_file():
                found.append(StoredObject(key + ".gz", twin, GZIP_TYPE, self.max_age,
                                          label=label + ".gz"))
        return found

    def _shards(self) -> tuple[list[StoredObject], Callable[[str], bool]]:
        """The current index's shards, and which listed tracking keys are past them."""
        state = read_index(self.layout) if self.tracking_folder else None
        if state is None:
            return [], lambda key: False
        folder = f"{self.tracking_folder}index/"
        shards = []
        for n in range(state.shards):
            path = shard_file(self.layout, state.version, n)
            if path is not None:
                shards.append(StoredObject(f"{folder}{n}.json", path, JSON_TYPE, self.max_age))

        def past_the_count(key: str) -> bool:
            number = key.removeprefix(folder).removesuffix(".json")
            return key.startswith(folder) and number.isdigit() and int(number) >= state.shards

        return shards, past_the_count

    def _loader(self) -> list[StoredObject]:
        if not self.tracking_folder:
            return []
        base = (self.cfg.publish.public_url or self.cfg.server.public_url).rstrip("/")
        body = render_loader(self.cfg, self.env, read_index(self.layout), base)
        return [StoredObject(f"{self.tracking_folder}loader.js", body.encode("utf-8"), JS_TYPE,
                             self.max_age)]

    def _stale_feed(self, key: str) -> bool:
        """A listed feed object the config no longer builds (or a twin gzip_objects
        replaced); a feed that is built but failed keeps its last good object."""
        if not key.startswith(self.feeds_folder):
            return False
        name = key[len(self.feeds_folder):]
        if name.endswith(".gz") and self.cfg.publish.gzip_objects:
            return True
        return name.removesuffix(".gz") not in self._built_files

    @functools.cached_property
    def _built_files(self) -> frozenset[str]:
        return frozenset(spec.file for spec in feed_specs(self.cfg))
