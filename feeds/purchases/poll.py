"""Within a minute of a webhook: the poller that `serve` and `worker` run.

Every `POLL_S` seconds it asks the inbox whether a webhook has waited at least
`GRACE` (the time the confirmation page's beacon needs to arrive, so the order goes
out attributed); if one has, it runs `send_purchases(webhooks_only=True)`. A webhook
is therefore sent some 20 to 30 seconds after it came. It works across processes (the
web server stores the webhook, a `worker` elsewhere sends it: the inbox is the only
link), and a run in another process (the lock is busy) is simply waited out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from feeds.config import Config
from feeds.errors import FeedsError, LockBusy
from feeds.log import mask
from feeds.purchases.run import PurchasesReport, send_purchases
from feeds.storage.inbox import Inbox

__all__ = ["GRACE", "POLL_S", "PurchasesPoller"]

log = logging.getLogger("feeds.purchases.poll")

POLL_S = 10.0
GRACE = timedelta(seconds=20)


class PurchasesPoller:
    """Sends webhooks' orders in a daemon thread until `stop()`."""

    def __init__(self, cfg: Config, *, poll_s: float = POLL_S, grace: timedelta = GRACE,
                 run: Callable[..., PurchasesReport] = send_purchases,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.cfg, self.poll_s, self.grace, self._run, self._now = cfg, poll_s, grace, run, now
        self.inbox = Inbox.in_dir(cfg.data_dir)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="vendre-feeds-purchases",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> bool:
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the loop outlives anything (a full disk, a bug)
                log.exception("purchases poller error")
            self._stop.wait(self.poll_s)

    def tick(self) -> PurchasesReport | None:
        """One look: a run when a webhook has waited `grace`; None when none has."""
        waited = self._now() - self.grace
        if not self.inbox.open_count(received_before=waited):
            return None
        try:
            report = self._run(self.cfg, webhooks_only=True, webhooks_before=waited)
        except LockBusy:
            return None  # another process is sending; it or the next tick takes these
        except FeedsError as exc:
            log.warning("purchases not sent: %s", mask(str(exc)))
            return None
        (log.info if report.ok else log.warning)("purchases: %s", report.summary())
        return report
