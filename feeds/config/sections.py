"""The top-level sections of the config file, one dataclass each, and `Config`.

Every field is a documented setting with its default and range
(`feeds.core.settings.setting`). Channel tables (`[channels.<name>]`) are
declared by the channel modules themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

from feeds.core.ids import IdField
from feeds.core.settings import ChannelSettings, setting

__all__ = [
    "DEFAULT_STALE_MINUTES",
    "SECTIONS",
    "BestsellerSettings",
    "BuildSettings",
    "Config",
    "FleetSettings",
    "FleetShopSettings",
    "PublishSettings",
    "PurchasesSettings",
    "ScheduleSettings",
    "ServerSettings",
    "ShopSettings",
    "TrackingSettings",
    "VendreSettings",
]


@dataclass(frozen=True)
class VendreSettings:
    """[vendre]: how the shop's /API/1 is read."""

    api_url: str = setting("", "Base URL of the shop's admin API, e.g. https://shop.se/API/1",
                           env="VENDRE_API_URL", example="https://shop.se/API/1")
    api_key_env: str = setting("VENDRE_API_KEY",
                               "Name of the environment variable holding the API key "
                               "(the key itself is never read from this file)",
                               secret_env=True)
    page_size: int = setting(250, "Items asked for per page (the shop may answer with fewer)",
                             min=1, max=10_000)
    concurrency: int = setting(4, "Pages fetched at once after the first", min=1, max=32)
    timeout_s: float = setting(30.0, "Seconds one request may take, connect to last byte; a "
                                     "later answer is a failed, retried request",
                               min=0.1, max=3600)
    retries: int = setting(5, "Retries of one request after a timeout, connection error, "
                              "429 or 5xx", min=0, max=20)
    sync_deadline_minutes: float = setting(60.0, "Minutes one whole sync may take; then it "
                                                 "fails and the previous snapshot stays",
                                           min=0.01, max=10_080)
    max_products: int = setting(5_000_000, "Most products (or categories, or orders) a shop "
                                           "may promise; a first page promising more fails "
                                           "before paging", min=1, max=100_000_000)
    max_response_mb: int = setting(64, "Largest answer (one page) read, in MB; a larger page "
                                       "fails like an unreadable one", min=1, max=4096)
    orders: bool = setting(True, "Read orders too (for bestseller labels); a failure is a "
                                 "warning")
    orders_days: int = setting(60, "Keep the orders of this many past days, judged by order "
                                   "date", min=1, max=3650)


@dataclass(frozen=True)
class ShopSettings:
    """[shop]: facts about the shop that every feed and event uses."""

    name: str = setting("", "Shop name, used as the feeds' channel title")
    base_url: str = setting("", "Storefront URL; product links are base_url + "
                                "seo_link[language]", example="https://shop.se")
    language: str = setting("sv", "Language of titles, descriptions and links (falls back to "
                                  "any non-empty language)")
    currency: str = setting("SEK", "ISO 4217 currency of the prices in Vendre")
    country: str = setting("SE", "ISO 3166-1 country the shop sells to")
    tax_classes: dict[int, Decimal] = setting(
        {2: Decimal(25), 3: Decimal(6), 4: Decimal(12), 5: Decimal(0)},
        "Vendre tax_class_id -> VAT percent (check these against your shop's admin)",
        min=0, max=99)
    id_field: IdField = setting(IdField.ID, 'The one product id of every feed and event: "id" '
                                            '(Vendre\'s product id) or "article_number"')
    default_brand: str = setting("", "Brand of the shop's own goods: used for products with "
                                     "no manufacturer and no EAN (empty = none)")
    variant_axes: dict[str, str] = setting(
        {"färg": "color", "color": "color", "colour": "color", "farge": "color",
         "farve": "color", "väri": "color", "storlek": "size", "size": "size",
         "størrelse": "size", "koko": "size", "material": "material", "materiale": "material",
         "materiaali": "material", "mönster": "pattern", "pattern": "pattern",
         "mønster": "pattern", "kuvio": "pattern", "smak": "flavor", "flavor": "flavor",
         "flavour": "flavor", "maku": "flavor"},
        "Variant axis name (any language, any case) -> the attribute it sets: color, size, "
        "material, pattern (Google, Meta, Criteo) or flavor (the marketplaces); replaces "
        "the default table")
    backorder_days: int = setting(14, "Days until a backorder (or preorder) without a "
                                      "readable date is expected in stock", min=1, max=365)


@dataclass(frozen=True)
class BuildSettings:
    """[build]: publishing rules shared by every channel."""

    max_drop_percent: int = setting(30, "Refuse to publish a feed whose item count fell by "
                                        "more than this percentage (override with --force)",
                                    min=0, max=100)
    history_versions: int = setting(50, "Published versions kept per feed under history/",
                                    min=1, max=10_000)
    history_max_mb: int = setting(2000, "At most this many MB of history per feed",
                                  min=1, max=1_000_000)
    templates_dir: str = setting("", "Folder whose templates override the built-in ones "
                                     "(same relative names, e.g. feeds/google.xml)")


@dataclass(frozen=True)
class BestsellerSettings:
    """[bestsellers]: label the products that sell, from the orders in the store."""

    window_days: int = setting(30, "Rank products by units sold over this many days",
                               min=1, max=3650)
    top_percent: int = setting(10, "Label the top this-many percent of the products that sold",
                               min=0, max=100)
    label: str = setting("custom_label_0", "Which custom label carries the mark "
                                           "(custom_label_0..4)")
    value: str = setting("bestseller", "The label's value (empty disables bestseller labels)")


@dataclass(frozen=True)
class ServerSettings:
    """[server]: the feed server (`vendre-feeds serve`)."""

    host: str = setting("127.0.0.1", "Interface to listen on")
    port: int = setting(8000, "Port to listen on", min=1, max=65535)
    access_key: str = setting("", "Secret path segment of every feed URL and the status page "
                                  "(`init` generates one)", env="VENDRE_FEEDS_ACCESS_KEY")
    public_url: str = setting("", "Where shoppers' browsers and feed fetchers reach this "
                                  "server, e.g. https://feeds.shop.se",
                              example="https://feeds.shop.se")
    stale_after_minutes: int | None = setting(
        None, "A feed older than this is stale: /health answers 503 and the status page "
              "says so; empty = three [schedule] intervals (180 when the schedule is off)",
        min=1, max=525_600)
    threads: int = setting(8, "Worker threads of the WSGI server", min=1, max=256)
    connection_limit: int = setting(1000, "Open connections the server accepts at once; "
                                          "further clients wait in the listen queue",
                                    min=1, max=100_000)
    channel_timeout_s: int = setting(30, "Seconds a connection may pass without a byte "
                                         "received or sent before it is closed",
                                     min=1, max=3600)
    trusted_proxies: list[str] = setting(
        ["127.0.0.1", "::1"], "Addresses of the reverse proxy (deploy/nginx.conf) whose "
                              "X-Forwarded-For names the client; from any other address the "
                              "header is ignored")


@dataclass(frozen=True)
class ScheduleSettings:
    """[schedule]: background sync + build."""

    every_minutes: int = setting(60, "Run sync and build this often in `serve`/`worker` "
                                     "(0 = never)", min=0, max=10_080)


@dataclass(frozen=True)
class TrackingSettings:
    """[tracking]: the snippets and the one-tag loader."""

    gtm_id: str = setting("", "Google Tag Manager container id (GTM-XXXX); empty = off")
    ga4_id: str = setting("", "GA4 measurement id (G-XXXX); empty = off")
    meta_pixel_id: str = setting("", "Meta Pixel id (digits); empty = off")
    criteo_account: str = setting("", "Criteo OneTag account id (digits); empty = off")
    site_key: str = setting("", "Public key in the loader's URL (not a secret; `init` "
                                "generates one)")
    consent_mode: bool = setting(True, "Send Google Consent Mode v2 defaults (denied) before "
                                       "any tag, and make Meta and Criteo wait for consent")
    prices_include_vat: bool = setting(True, "Event prices with VAT, like the feeds")
    meta_group_ids: bool = setting(False, "Meta events name the variant group (product_group) "
                                          "instead of the variant")
    criteo_site_type: str = setting("d", 'Criteo setSiteType: "d" desktop, "m" mobile, '
                                         '"t" tablet')
    cart_path: str = setting("/(varukorg|kassa|cart|checkout)", "Regular expression for the "
                                                                "cart page's URL path")
    confirmation_path: str = setting("/(tack|thank|confirmation|checkout_success)",
                                     "Regular expression for the order confirmation URL path")
    buy_button_selector: str = setting("[data-buy], .buy-button, button[name=buy]",
                                       "CSS selector of the buy button on product pages")
    allowed_origins: list[str] = setting([], "Origins allowed to fetch the product index "
                                             "(CORS); empty = the shop's base_url")
    index_shards: int = setting(64, "Number of product index shards a page chooses from",
                                min=1, max=4096)


@dataclass(frozen=True)
class PurchasesSettings:
    """[purchases]: every Vendre order sent once to GA4 and Meta from the server."""

    enabled: bool = setting(False, "Receive Vendre's order webhooks and the loader's beacon, "
                                   "and send each order to GA4 and Meta")
    statuses: tuple[int, ...] = setting((), "Vendre status ids that count as a purchase; "
                                            "empty = every order", min=0)
    refund_statuses: tuple[int, ...] = setting((), "Status ids that turn an order already "
                                                   "sent into a GA4 refund (sent once)", min=0)
    order_number_field: str = setting("", "The order's field holding the number the "
                                          "confirmation page shows (its transaction_id); "
                                          "empty = order_number, else number, else id")
    send_user_data: bool = setting(False, "Send Meta the customer's e-mail, phone, name, city, "
                                          "postcode and country, hashed (the consent and legal "
                                          "basis are the shop's)")
    ga4_endpoint: str = setting("https://region1.google-analytics.com/mp/collect",
                                "GA4 Measurement Protocol endpoint (region1 = EU)")
    meta_endpoint: str = setting("https://graph.facebook.com", "Meta Graph API base URL")
    meta_api_version: str = setting("25.0", "Meta Graph API version of the Conversions API")
    meta_test_event_code: str = setting("", "Meta Events Manager test code: events show under "
                                            "Test Events (empty in production)")
    max_beacons: int = setting(200_000, "Browser beacons kept (7 days at most); the oldest "
                                        "go first", min=1, max=10_000_000)
    webhook_secret_env: str = setting("VENDRE_FEEDS_WEBHOOK_SECRET",
                                      "Name of the environment variable holding the secret of "
                                      "the webhook URL", secret_env=True)
    ga4_api_secret_env: str = setting("VENDRE_FEEDS_GA4_API_SECRET",
                                      "Name of the environment variable holding the GA4 "
                                      "Measurement Protocol API secret", secret_env=True)
    meta_access_token_env: str = setting("VENDRE_FEEDS_META_ACCESS_TOKEN",
                                         "Name of the environment variable holding the Meta "
                                         "Conversions API access token", secret_env=True)


@dataclass(frozen=True)
class PublishSettings:
    """[publish]: copies of the published files in object storage (S3 or its API), for a
    CDN to serve. Credentials come from the standard AWS chain (environment variables,
    ~/.aws/credentials and config, SSO, the instance's role), never from this file."""

    target: str = setting("", "Bucket and prefix to upload every published file to, e.g. "
                              "s3://my-bucket/shops/acme; empty = local files only",
                          example="s3://my-bucket/feeds")
    endpoint_url: str = setting("", "The S3 API's URL for other storage (MinIO, Cloudflare R2, "
                                    "Google Cloud Storage); empty = AWS S3",
                                example="https://<account>.r2.cloudflarestorage.com")
    region: str = setting("", "The bucket's region; empty = the AWS chain's (AWS_REGION, "
                              "~/.aws/config)")
    public_url: str = setting("", "The CDN's base URL in front of the bucket and prefix, e.g. "
                                  "https://cdn.shop.se: then `urls`, the status page and the "
                                  "loader tag name it instead of the server",
                              example="https://cdn.shop.se")
    gzip_objects: bool = setting(False, "Upload each feed gzipped under its own name (with "
                                        "Content-Encoding: gzip) instead of the plain file plus "
                                        "a <file>.gz")
    max_age_s: int = setting(300, "Cache-Control max-age of the uploaded files, in seconds",
                             min=0, max=31_536_000)
    timeout_s: float = setting(60.0, "Seconds one storage request may wait for the connection "
                                     "or for an answer", min=1, max=3600)
    retries: int = setting(4, "Retries of one storage request after a timeout, connection "
                              "error, throttling or 5xx, with backoff", min=0, max=20)

    @property
    def bucket(self) -> str:
        """The bucket `target` names ("" when local only)."""
        return self.target.removeprefix("s3://").split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The key prefix `target` names: "" or ending in one "/"."""
        rest = self.target.removeprefix("s3://").partition("/")[2].strip("/")
        return f"{rest}/" if rest else ""


#: Minutes after which a feed is stale when no schedule refreshes it (cron, by hand).
DEFAULT_STALE_MINUTES = 180


@dataclass(frozen=True)
class FleetShopSettings:
    """[fleet] in a shop's file: where the shop runs when it is one of a fleet (`--fleet`).

    Not settable from the environment: a fleet's processes share one environment, and a
    variable would move every shop at once.
    """

    shard: int | None = setting(None, "In a fleet: the shard whose worker runs this shop and "
                                      "keeps its state; empty = crc32(name) % the fleet "
                                      "file's [fleet] shards", min=0, max=1023)

    from_env: ClassVar[bool] = False


@dataclass(frozen=True)
class FleetSettings:
    """[fleet] in the fleet file (`--fleet`): many shops on Celery workers with a Redis broker.

    Paths are relative to the fleet file. The file may also hold a `[publish]` table,
    which every shop without one of its own inherits with `<shop name>/` appended to its
    target (and to its public URL).
    """

    broker_url: str = setting("", "Redis URL of the Celery broker, which also holds the fleet's "
                                  "locks and outcomes, e.g. redis://redis:6379/0 (a password in "
                                  "it is masked in every log)",
                              example="redis://127.0.0.1:6379/0")
    shops_dir: str = setting("shops", "Folder of shop configs, one <name>.toml per shop (the "
                                      "shop's name is the file's stem)")
    state_root: str = setting("state", "Each shop's data dir is <state_root>/<name>/ unless its "
                                       "file sets data_dir")
    shards: int = setting(1, "Shards, one queue each: a shop belongs to crc32(name) % shards "
                             "unless its file sets [fleet] shard", min=1, max=1024)
    visibility_timeout_s: int = setting(3600, "Seconds before Redis may hand an unacknowledged "
                                              "job to another worker", min=60, max=604_800)
    lock_lease_s: int = setting(60, "Lease of a shop's lock in Redis, renewed while its job "
                                    "runs: a dead worker's lock expires within it",
                                min=5, max=3600)
    time_limit_s: int = setting(3000, "Celery's hard time limit of one job, the last resort "
                                      "after the shop's own limits; below "
                                      "visibility_timeout_s", min=60, max=604_800)
    worker_max_memory_mb: int = setting(2048, "A worker process grown past this after a job is "
                                              "replaced by a fresh one; 0 = never",
                                        min=0, max=1_048_576)


SECTIONS: dict[str, type] = {
    "vendre": VendreSettings,
    "shop": ShopSettings,
    "build": BuildSettings,
    "bestsellers": BestsellerSettings,
    "server": ServerSettings,
    "schedule": ScheduleSettings,
    "tracking": TrackingSettings,
    "purchases": PurchasesSettings,
    "publish": PublishSettings,
    "fleet": FleetShopSettings,
}


@dataclass(frozen=True)
class Config:
    """The whole configuration, immutable once loaded.

    `channels` holds every channel by name: the tables of the file and, for each
    registered channel without one, its defaults (all resolved: targets filled in).
    """

    data_dir: Path
    vendre: VendreSettings
    shop: ShopSettings
    build: BuildSettings
    bestsellers: BestsellerSettings
    server: ServerSettings
    schedule: ScheduleSettings
    tracking: TrackingSettings
    channels: Mapping[str, ChannelSettings]
    purchases: PurchasesSettings = PurchasesSettings()
    publish: PublishSettings = PublishSettings()
    fleet: FleetShopSettings = FleetShopSettings()
    source: Path | None = None
    warnings: tuple[str, ...] = ()

    def channel(self, name: str) -> ChannelSettings:
        """The settings of channel `name`.

        :raises KeyError: no such channel (the loader knows every registered one).
        """
        return self.channels[name]

    def stale_after_minutes(self) -> int:
        """Minutes after which a published feed is stale: `[server] stale_after_minutes`,
        else three schedule intervals, else (no schedule) three hours."""
        if self.server.stale_after_minutes is not None:
            return self.server.stale_after_minutes
        every = self.schedule.every_minutes
        return 3 * every if every > 0 else DEFAULT_STALE_MINUTES

    def public_base(self, fallback: str | None = None) -> str:
        """Where browsers and fetchers reach the server, without a trailing slash:
        `[server] public_url`, else `fallback` (the address a request came to), else
        `http://<[server] host>:<port>` (reachable from this machine only)."""
        base = self.server.public_url or fallback or \
            f"http://{self.server.host}:{self.server.port}"
        return base.rstrip("/")

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line (masked by `feeds.log`)."""
        return tuple(s for s in (self.server.access_key,) if s)
