"""What the status page and `vendre-feeds status` show of the purchases: per platform,
the ledger's counts, and the last run with its error (masked)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feeds.config import Config
from feeds.errors import StoreError
from feeds.log import mask
from feeds.purchases.payloads import Platform
from feeds.purchases.run import enabled_platforms, ledger_of
from feeds.storage.inbox import Inbox
from feeds.storage.ledger import SendState

__all__ = ["PlatformStatus", "purchase_status", "status_lines"]

_TITLES = {Platform.GA4: "GA4 (Measurement Protocol)", Platform.META: "Meta (Conversions API)"}


@dataclass(frozen=True)
class PlatformStatus:
    """One platform's purchases, as the status page shows them."""

    platform: str
    title: str
    sent: int        # purchases
    attributed: int  # of `sent`: with the browser's own ids
    pending: int     # purchases and refunds still to send
    too_old: int
    no_consent: int
    no_match_data: int
    failed: int      # purchases and refunds the platform refused
    refunds: int     # refunds sent
    last_run: datetime | None
    last_ok: bool | None
    last_error: str


def purchase_status(cfg: Config) -> list[PlatformStatus]:
    """One row per platform with an id; [] when purchases are off. Reading never
    creates the ledger."""
    if not cfg.purchases.enabled:
        return []
    ledger = ledger_of(cfg)
    rows = []
    for platform in enabled_platforms(cfg):
        try:
            counts = ledger.counts(platform.value, "purchase")
            refunds = ledger.counts(platform.value, "refund")
            run = ledger.runs.last_run(f"purchases-{platform.value}")
        except StoreError as exc:
            counts, refunds, run = {}, {}, None
            error = mask(str(exc))
        else:
            error = mask(run.message) if run and not run.ok else ""
        rows.append(PlatformStatus(
            platform=platform.value, title=_TITLES[platform],
            sent=counts.get(SendState.SENT.value, 0),
            attributed=counts.get("attributed", 0),
            pending=(counts.get(SendState.PENDING.value, 0)
                     + refunds.get(SendState.PENDING.value, 0)),
            too_old=counts.get(SendState.TOO_OLD.value, 0),
            no_consent=counts.get(SendState.NO_CONSENT.value, 0),
            no_match_data=counts.get(SendState.NO_MATCH_DATA.value, 0),
            failed=(counts.get(SendState.FAILED.value, 0)
                    + refunds.get(SendState.FAILED.value, 0)),
            refunds=refunds.get(SendState.SENT.value, 0),
            last_run=run.finished_at if run else None, last_ok=run.ok if run else None,
            last_error=error))
    return rows


def status_lines(cfg: Config) -> list[str]:
    """The purchases' lines of `vendre-feeds status`."""
    if not cfg.purchases.enabled:
        return []
    lines = []
    inbox = Inbox.in_dir(cfg.data_dir)
    try:
        waiting, beacons = inbox.open_count(), inbox.beacon_count()
    except StoreError as exc:
        lines.append(f"purchases inbox: {mask(str(exc))}")
    else:
        lines.append(f"purchases: {waiting} webhooks waiting, {beacons} beacons kept")
    for row in purchase_status(cfg):
        line = (f"purchases {row.platform}: sent {row.sent} ({row.attributed} attributed to "
                f"the browser), pending {row.pending}, too old {row.too_old}, no consent "
                f"{row.no_consent}, no match data {row.no_match_data}, failed {row.failed}")
        if row.refunds:
            line += f", refunds {row.refunds}"
        if row.last_run:
            line += f"; last run {row.last_run:%Y-%m-%d %H:%M} UTC " + \
                ("ok" if row.last_ok else f"FAILED: {row.last_error}")
        lines.append(line)
    return lines
