"""What stands between a push and the marketplace besides the clients themselves.

- The account (`account_of`): a channel's ledger belongs to the account it was made
  with, the API's URL and a hash of the merchant, seller or shop id. A push to another
  account never trusts the entries made for the old one: they are set aside and the
  push starts from an empty ledger, where every article is looked up (or upserted)
  before it is created, as on a first push.
- The removal guard (`removal_check`): like the feeds' drop guard, a push that would
  delete, pause or zero more than `max_removal_percent` of the articles the
  marketplace holds for sale (per the ledger: live or unconfirmed), and more than
  `REMOVAL_FLOOR`, is
  refused before anything is sent, unless forced.
- `ScrubbedLedger`: whatever a marketplace said that ends up in the ledger (its
  messages, a failed run's error) is stored scrubbed of every form of every
  credential, without control characters, and cut, in that order.

No I/O of its own: the ledger and the published items are passed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from feeds.errors import FeedsError
from feeds.log import shown
from feeds.storage.ledger import Account, Ledger, LedgerEntry, PushRun, SkuState

__all__ = ["HELD", "REMOVAL_FLOOR", "Removal", "RemovalRefused", "ScrubbedLedger", "account_of",
           "removal_check"]

REMOVAL_FLOOR = 10        # fewer removals than this never trip the guard
MESSAGE_MAX = 2000        # characters of a run's message stored
ERROR_MAX = 500           # characters of one marketplace message stored per SKU
ERRORS_MAX = 20           # messages stored per SKU
# The states of an article the marketplace may hold for sale: live, and unconfirmed (its
# last send was not acknowledged, so it may well be for sale).
HELD = frozenset({SkuState.LIVE, SkuState.UNCONFIRMED})


class RemovalRefused(FeedsError):
    """A push would remove too much of what the marketplace holds for sale."""


# ---------------------------------------------------------------- the account


def account_of(settings: Any, roles: Collection[str], credentials: Mapping[str, str], *,
               since: datetime | None = None) -> Account | None:
    """The account a push of `settings` talks to, or None when its id is not known (a
    dry run without the credentials in the environment).

    The URL is the API's (`api_url`, or Amazon's `endpoint`); the id is the merchant id
    when the channel's credentials have one (`roles`: CDON, Fyndiq), else the seller id
    with the marketplace (Amazon) or the shop id (Mirakl; empty when the key serves one
    shop). The id is kept only as a hash.
    """
    url = str(getattr(settings, "api_url", "") or getattr(settings, "endpoint", "") or "")
    if "merchant_id" in roles:
        ident = credentials.get("merchant_id", "")
        if not ident:
            return None
    else:
        ident = str(getattr(settings, "seller_id", "") or getattr(settings, "shop_id", "") or "")
    marketplace = str(getattr(settings, "marketplace_id", "") or "")
    digest = hashlib.sha256(f"{ident}\n{marketplace}".encode()).hexdigest()[:32]
    return Account(url.strip().rstrip("/"), digest, since)


def describe(account: Account) -> str:
    """How a message names an account: its URL and the start of its id's hash."""
    return f"{account.api_url or 'no URL'} (account {account.account[:8]})"


# ---------------------------------------------------------------- the removal guard


@dataclass(frozen=True)
class Removal:
    """How many articles for sale a push would remove, of how many."""

    removed: int
    for_sale: int
    percent_allowed: int

    @property
    def trips(self) -> bool:
        return self.removed > REMOVAL_FLOOR and \
            self.removed * 100 > self.percent_allowed * self.for_sale

    def describe(self, name: str) -> str:
        share = self.removed * 100 / self.for_sale if self.for_sale else 100.0
        return (f"it would delete, pause or zero {self.removed} of the {self.for_sale} "
                f"articles for sale ({share:.0f} %, more than channels.{name}."
                f"max_removal_percent = {self.percent_allowed} % and more than "
                f"{REMOVAL_FLOOR})")


def removal_check(entries: Mapping[str, LedgerEntry], published: Iterable[str],
                  percent_allowed: int) -> Removal:
    """The articles the ledger has for sale (live, or unconfirmed) that the published file
    no longer holds: each is deleted, paused or zeroed by a push."""
    live = {sku for sku, e in entries.items() if e.state in HELD}
    removed = live.difference(published)
    return Removal(len(removed), len(live), percent_allowed)


# ---------------------------------------------------------------- what is stored


class ScrubbedLedger:
    """A ledger whose stored texts hold no credential (see the module docstring)."""

    def __init__(self, ledger: Ledger, secrets: Iterable[str] = ()) -> None:
        self._ledger = ledger
        self._secrets = tuple(secrets)

    def _clean(self, entry: LedgerEntry) -> LedgerEntry:
        if not entry.errors:
            return entry
        return replace(entry, errors=tuple(shown(e, ERROR_MAX, self._secrets)
                                           for e in entry.errors[:ERRORS_MAX]))

    def entries(self, channel: str) -> dict[str, LedgerEntry]:
        return self._ledger.entries(channel)

    def put(self, channel: str, entries: Iterable[LedgerEntry]) -> None:
        self._ledger.put(channel, (self._clean(e) for e in entries))

    def forget(self, channel: str, skus: Iterable[str]) -> None:
        self._ledger.forget(channel, skus)

    def record_run(self, channel: str, run: PushRun, run_id: int | None = None) -> None:
        self._ledger.record_run(channel, replace(
            run, message=shown(run.message, MESSAGE_MAX, self._secrets)), run_id)

    def start_run(self, channel: str, started_at: datetime) -> int:
        return self._ledger.start_run(channel, started_at)

    def run_progress(self, channel: str, run_id: int, counts: Mapping[str, int]) -> None:
        self._ledger.run_progress(channel, run_id, counts)

    def last_run(self, channel: str) -> PushRun | None:
        return self._ledger.last_run(channel)

    def account(self, channel: str) -> Account | None:
        return self._ledger.account(channel)

    def set_account(self, channel: str, account: Account, *, fresh: bool) -> None:
        self._ledger.set_account(channel, account, fresh=fresh)
