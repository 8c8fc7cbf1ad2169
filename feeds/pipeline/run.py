"""`vendre-feeds build` and `validate`: the store -> checked, published files.

One pass over the snapshot feeds every file of the build (`feeds.pipeline.items`:
each product derived once per distinct target, then mapped and checked by every
channel). Each file then goes its own way:

    items -> its format's renderer -> temporary file (+ .gz, SHA-256)
    (a file in pieces, `feeds.formats.Pieces`: its items arrive rendered)
    temporary file -> parse-back (well-formed, exactly the rendered ids, in order)
        -> drop guard -> atomic publish (+ state, history) -> report

The renderers run in lockstep in this thread: after each batch of products,
every file renders what it received, so memory stays flat however many files
a build makes. A failure of one file (its template, its check, its drop
guard) leaves its last published version in place and does not stop the
others; a failure of the pass (the store, the child) fails every file.

Where the machine has a second core and the catalogue is large, a child process
(`feeds.pipeline.producer`) reads the snapshot and both processes work on each
block of products, the child from the back and this one from the front (after
it has written, checked and recorded what the last block gave every file), so
the two cores finish together; a child that dies before its first batch (it
could not even start) is replaced by the same pass in this process.
"""

from __future__ import annotations

import gc
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from feeds.channels import is_discoverable
from feeds.config import Config
from feeds.core.validation import Violation
from feeds.errors import BuildError, FeedInvalid, FeedsError, StoreError
from feeds.formats import FormatHandler, IdDigest, Pieces, handler, id_field
from feeds.formats.templates import make_env
from feeds.pipeline.items import (
    BLOCK_PRODUCTS,
    FeedBatch,
    FeedJob,
    PassJob,
    PassWorker,
    merge,
    products_pass,
    store_blocks,
)
from feeds.pipeline.plan import (
    FeedSpec,
    SharedInputs,
    derive_contexts,
    feed_specs,
    shared_inputs,
)
from feeds.pipeline.producer import Claims, Send, produced
from feeds.pipeline.publish import HistoryPolicy, guard_refusal, publish, temp_file
from feeds.pipeline.sink import FeedSink, Written
from feeds.progress import Progress, Step, make_progress
from feeds.storage.feed_ids import FeedIds, Recorder
from feeds.storage.layout import Layout, PublishedFeed
from feeds.storage.lock import BUILD, held
from feeds.storage.report import Counts, ReportWriter
from feeds.storage.store import Store
from feeds.vendre.parse import DeriveContext
from feeds.vendre.prepared import context_key

__all__ = ["CHILD_MIN_PRODUCTS", "FeedResult", "build_feeds", "pass_job"]

log = logging.getLogger("feeds.pipeline.run")

# From this many products on (and with a second core), the pass runs in a child
# process. Measured in bench/build_bench.py; see BENCHMARKS.md.
CHILD_MIN_PRODUCTS = 10_000
_CHUNKS_PER_WRITE = 4096  # template chunks joined into one write
_STEP = 16  # rows of a block either process takes at a time


@dataclass(frozen=True)
class FeedResult:
    """What happened to one file."""

    stem: str
    channel: str
    published: bool
    reason: str
    counts: Counts
    previous_items: int | None
    first_violations: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reason


def build_feeds(cfg: Config, *, codes: Sequence[str] = (), force: bool = False,
                publish_feeds: bool = True, now: datetime | None = None,
                progress: Progress | None = None, keep_first: int = 0) -> list[FeedResult]:
    """Build (and unless `publish_feeds` is False, publish) the files of the channels
    named in `codes` (default: every enabled one); one result per file.

    :raises StoreError: when there is no snapshot to build from.
    :raises LockBusy: when another build runs on the same data dir.
    """
    now = now or datetime.now(UTC)
    progress = progress or make_progress(quiet=True)
    layout = Layout(cfg.data_dir)
    store = Store(layout.store)
    specs = feed_specs(cfg, codes)
    if store.last_good_sync() is None:
        raise StoreError("the store holds no snapshot yet: run `vendre-feeds sync` first")
    with held(layout, BUILD):
        inputs = shared_inputs(cfg, store, now)
        env = make_env(cfg.build.templates_dir or None)
        total = store.counts()["products"]
        files = [_File(cfg, spec, handler(spec.channel.format, env), layout,
                       publish_feeds=publish_feeds, keep_first=keep_first, now=now)
                 for spec in specs]
        in_child = _pass_in_child(specs, total)
        job = pass_job(cfg, specs, store, inputs,
                       pieces=[f.pieces for f in files])
        step = progress.step("build", total=total, unit="products")
        with ExitStack() as stack:
            for f in files:
                f.open(stack)
            _render_all(files, _batches(job, in_child), step)
            step.close(f"{total} products read once for {len(files)} files")
            return [f.finish(force=force, progress=progress) for f in files]


def pass_job(cfg: Config, specs: Sequence[FeedSpec], store: Store, inputs: SharedInputs,
             *, pieces: Sequence[Pieces | None] = ()) -> PassJob:
    """The pass for `specs`: one derivation per distinct target, shared by every file;
    `pieces[i]` (when given and not None) renders the items of `specs[i]` in the pass."""
    contexts = derive_contexts(cfg, specs, inputs.categories, inputs.now)
    keys = {key: n for n, key in enumerate(contexts)}
    feeds = []
    for n, spec in enumerate(specs):
        derivations = tuple((t.file, keys[t.derivation]) for t in spec.targets)
        piece = pieces[n] if n < len(pieces) else None
        feeds.append(FeedJob(spec.stem, spec.channel, spec.settings, derivations,
                             piece.render_items if piece else None,
                             id_field(spec.channel.format)))
    derive = tuple(contexts.values())
    return PassJob(store=store.path, derive=derive, feeds=tuple(feeds),
                   categories=inputs.categories, labels=inputs.labels,
                   duplicate_ids=inputs.duplicate_ids, default_brand=cfg.shop.default_brand,
                   now=inputs.now, **_prepared(store, derive))


def _prepared(store: Store, derive: Sequence[DeriveContext]) -> dict[str, Any]:
    """Where each derivation's products are among the snapshot's prepared forms, and the
    keys they were found among; nothing when one of them is not prepared (or they are
    stale): the pass then reads the JSON."""
    keys = store.prepared_keys()
    stored = {key: n for n, key in enumerate(keys)}
    found = tuple(stored.get(context_key(ctx), -1) for ctx in derive) if stored else ()
    return {"prepared": found, "prepared_keys": keys} if found and -1 not in found else {}


# ---------------------------------------------------------------- one file


class _File:
    """One file of the build, from its temporary files to its result."""

    def __init__(self, cfg: Config, spec: FeedSpec, fmt: FormatHandler, layout: Layout, *,
                 publish_feeds: bool, keep_first: int, now: datetime) -> None:
        self.cfg, self.spec, self.format, self.layout = cfg, spec, fmt, layout
        self.publishing, self.now = publish_feeds, now
        self.meta = _feed_meta(cfg, spec)
        # Items a channel still changes in file order must reach this process unrendered.
        self.pieces = fmt.pieces(self.meta) if spec.channel.in_file_order is None else None
        # Checks the bytes as they are written (the same bytes the file and its SHA-256
        # get), while the other core works; formats without one read the file back.
        self.checker = fmt.checker(spec.file)
        self.counts = Counts()
        self.report = ReportWriter(layout.report(spec.stem) if publish_feeds else None,
                                   keep_first)
        self.previous = layout.published_feed(spec.stem)
        self.queue: deque[dict[str, Any]] = deque()
        self.digest = IdDigest()
        self.reason = ""
        self.written: Written | None = None
        self._id = id_field(spec.channel.format)
        self._parts: list[str] = []
        steps = spec.channel.in_file_order
        self._in_order = steps() if steps is not None else None

    def open(self, stack: ExitStack) -> None:
        """Temporary files, sink and id recorder, released by `stack` (the temporary files
        are removed unless published)."""
        spec = self.spec
        self.rendered = stack.enter_context(temp_file(self.layout.feeds, spec.file))
        self.rendered_gz = stack.enter_context(temp_file(self.layout.feeds, f"{spec.file}.gz"))
        self.recorder: Recorder = stack.enter_context(
            closing(FeedIds(self.layout).recorder(spec.stem)))
        self.sink = FeedSink(self.rendered, self.rendered_gz).__enter__()
        stack.callback(self._close_sink)
        stack.callback(self._discard_report_unless_finished)
        self._finished = False

    def start(self, hub: _Hub) -> None:
        if self.pieces is not None:
            self._parts.append(self.pieces.head)
        else:
            self.chunks = self.format.render(_Feeder(self, hub), self.meta)

    # -- receiving and rendering

    def receive(self, part: FeedBatch) -> None:
        counts = self.counts
        counts.products += part.products
        counts.dropped += part.dropped
        counts.excluded.update(part.excluded)
        if part.violations:
            self.report.add(part.violations, counts)
        if self.reason:
            return
        if part.failure:
            self.fail(part.failure)
        elif self.pieces is None:
            if self._in_order is not None:
                for item in part.items:
                    self._in_order(item)
            self.queue.extend(part.items)
        elif part.ids:
            try:
                self._flush()
                self._write(part.text)
            except FeedsError as exc:  # this file's check or its disk: the others go on
                self.fail(str(exc))
                return
            self.digest.add_all(part.ids)
            self.recorder.add_all(part.ids)

    def taken(self, item: dict[str, Any]) -> None:
        item_id = str(item.get(self._id, ""))
        self.digest.add(item_id)
        self.recorder.add(item_id)

    def render_queued(self, everything: bool) -> bool:
        """Render what is queued (all that is left when `everything`); True when done."""
        if self.pieces is not None:  # its items arrive rendered (`receive`)
            if everything:
                self._parts.append(self.pieces.tail)
                self._flush()
            return everything
        while self.queue or everything:
            part = list(islice(self.chunks, len(self.queue) if not everything
                               else _CHUNKS_PER_WRITE))
            if not part:
                self._flush()
                return True
            self._parts += part
            if len(self._parts) >= _CHUNKS_PER_WRITE:
                self._flush()
        return False

    def _flush(self) -> None:
        if self._parts:
            self._write("".join(self._parts).encode("utf-8"))
            self._parts.clear()

    def _write(self, data: bytes) -> None:
        """To the file (and its .gz), and to the parse-back check as it is written."""
        self.sink.write(data)
        if self.checker is not None:
            self.checker.feed(data)

    def fail(self, reason: str) -> None:
        self.reason = reason
        self.queue.clear()

    # -- after the pass

    def finish(self, *, force: bool, progress: Progress) -> FeedResult:
        spec = self.spec
        try:
            if not self.reason:
                self.written = self._close_sink()
                self._check()
                self.counts.items = self.digest.count
                self.reason = self._drop_guard(force)
            if self.publishing and not self.reason:
                publish(self.rendered, self.rendered_gz, self.layout, self._state(),
                        HistoryPolicy(self.cfg.build.history_versions,
                                      self.cfg.build.history_max_mb * 1024 * 1024))
                self.recorder.commit()  # the ids events may name are now the live file's
        except FeedsError as exc:
            self.reason = str(exc)
        published = self.publishing and not self.reason
        progress.step(spec.stem).close(self._summary(published))
        self.report.finish({"feed": spec.stem, "channel": spec.name, "kind": spec.channel.code,
                            "built_at": self.now.isoformat(), "published": published,
                            "reason": self.reason}, self.counts)
        self._finished = True
        return FeedResult(spec.stem, spec.name, published, self.reason, self.counts,
                          self.previous.items if self.previous else None,
                          tuple(self.report.first))

    def _close_sink(self) -> Written | None:
        sink, self.sink = getattr(self, "sink", None), None
        if sink is None:
            return self.written
        sink.__exit__(None, None, None)
        return sink.written

    def _discard_report_unless_finished(self) -> None:
        if not self._finished:
            self.report.discard()

    def _check(self) -> None:
        # In this thread on purpose: lxml trees must not cross threads (a tree built in
        # the writer thread and collected in this one aborts the interpreter).
        parsed = self.checker.close() if self.checker is not None else None
        if parsed is None:  # no check as the bytes were written, or it was not sure
            parsed = self.format.check(self.rendered)
        if parsed.items != self.digest.count or parsed.digest != self.digest.hexdigest():
            raise FeedInvalid(f"{self.spec.file}: the output holds {parsed.items} items but "
                              f"{self.digest.count} were rendered, or their ids differ "
                              "(check the template's item loop)")

    def _drop_guard(self, force: bool) -> str:
        limit = self.spec.settings.max_drop_percent
        limit = self.cfg.build.max_drop_percent if limit is None else limit
        if force:
            return ""
        c = self.counts
        return guard_refusal(self.previous.items if self.previous else None, c.items,
                             c.items + c.dropped, limit)

    def _state(self) -> PublishedFeed:
        spec, written = self.spec, self.written
        assert written is not None
        return PublishedFeed(stem=spec.stem, channel=spec.name, file=spec.file,
                             content_type=spec.channel.format.content_type,
                             items=self.counts.items, published_at=self.now,
                             bytes=written.bytes, sha256=written.sha256,
                             country=spec.target.country, language=spec.target.language,
                             currency=spec.target.currency, kind=spec.channel.code)

    def _summary(self, published: bool) -> str:
        verb = "published" if published else \
            "checked" if not self.publishing and not self.reason else "NOT published"
        c = self.counts
        line = f"{c.items} items {verb}, {c.dropped} dropped, " \
               f"{sum(c.warnings.values())} warnings"
        return f"{line}: {self.reason}" if self.reason else line


def _feed_meta(cfg: Config, spec: FeedSpec) -> dict[str, Any]:
    shop = cfg.shop.name or cfg.shop.base_url
    return {"title": f"{shop} - {spec.channel.title}", "link": cfg.shop.base_url,
            "description": f"{shop} products for {spec.channel.title} "
                           f"({spec.target.country}, {spec.target.currency})",
            "country": spec.target.country, "language": spec.target.language,
            "currency": spec.target.currency, "settings": spec.settings,
            "markets": [t.country for t in spec.targets]}


# ---------------------------------------------------------------- the lockstep


class _Hub:
    """Hands the pass's batches to every file."""

    def __init__(self, batches: Iterator[list[FeedBatch]], files: Sequence[_File],
                 step: Step) -> None:
        self._batches, self._files, self._step = batches, files, step
        self.done = False
        self.failure: FeedsError | None = None

    def pull(self) -> bool:
        """One more batch to every file; False when the pass has ended."""
        if self.done:
            return False
        try:
            batch = next(self._batches)
        except StopIteration:
            self.done = True
            return False
        except FeedsError as exc:
            self.failure, self.done = exc, True
            raise
        for file, part in zip(self._files, batch, strict=True):
            file.receive(part)
        self._step.advance(batch[0].products if batch else 0)
        return True


class _Feeder:
    """The items one file's renderer reads: its queue, refilled from the hub when a
    renderer asks for more than is queued (rare: the lockstep renders only what is
    queued)."""

    def __init__(self, file: _File, hub: _Hub) -> None:
        self._file, self._hub = file, hub

    def __iter__(self) -> _Feeder:
        return self

    def __next__(self) -> dict[str, Any]:
        queue = self._file.queue
        while not queue:
            if not self._hub.pull():
                raise StopIteration
        item = queue.popleft()
        self._file.taken(item)
        return item


def _render_all(files: Sequence[_File], batches: Iterator[list[FeedBatch]],
                step: Step) -> None:
    """Pull batches and let every file render what it received, until all are done."""
    hub = _Hub(batches, files, step)
    for f in files:
        f.start(hub)
    active = list(files)
    try:
        while active:
            if not hub.done:
                hub.pull()
            for f in list(active):
                try:
                    done = f.render_queued(everything=hub.done)
                except FeedsError as exc:
                    if exc is hub.failure:
                        raise
                    f.fail(str(exc))
                    done = True
                if done:
                    active.remove(f)
    except FeedsError as exc:  # the pass itself failed: no file can be complete
        for f in active:
            f.fail(str(exc))
    finally:
        closer = getattr(batches, "close", None)
        if closer is not None:
            closer()


# ---------------------------------------------------------------- where the pass runs


def _pass_in_child(specs: Sequence[FeedSpec], total: int) -> bool:
    """Whether the pass runs in a child: a large catalogue, a second core, and channels a
    fresh interpreter finds by name (one added with `register` exists only here)."""
    return total >= CHILD_MIN_PRODUCTS and (os.cpu_count() or 1) >= 2 and \
        all(is_discoverable(spec.channel) for spec in specs)


def _batches(job: PassJob, in_child: bool) -> Iterator[list[FeedBatch]]:
    """The pass's batches, shared with a child process or all made in this one."""
    if not in_child:
        yield from products_pass(job)
        return
    batches = _shared_pass(job)
    try:
        try:
            first = next(batches)
        except StopIteration:
            return
        except BuildError as exc:
            if "ended without a result" not in str(exc):
                raise
            # The child could not start (e.g. a script without a __main__ guard under
            # spawn): the same pass, here, gives the same files.
            log.warning("the build's child process ended before its first batch (%s); "
                        "building in this process", exc)
            yield from products_pass(job)
            return
        yield first
        yield from batches
    finally:
        batches.close()


_ROWS, _DONE = "rows", "done"


def _shared_pass(job: PassJob) -> Iterator[list[FeedBatch]]:
    """Each block's batch, made by the child (`_produce`) and this process together: the
    child sends a block's rows as it starts on them from the back; this process takes
    rows from the front whenever it gets here, i.e. when the files have taken the
    last batch, and adds the child's part once they meet."""
    claims = Claims()
    worker = PassWorker(job)
    messages = produced(_produce, job, claims)
    own: list[list[FeedBatch]] = []
    try:
        for kind, number, payload in messages:
            if kind == _ROWS:
                own = []
                while (taken := claims.front(number, _STEP)) is not None:
                    own.append(worker.run(payload[taken[0]:taken[1]]))
            else:
                yield merge([*own, payload] if payload is not None else own)
                own = []
    finally:
        messages.close()


def _produce(job: PassJob, send: Send, claims: Claims,
             block_products: int = BLOCK_PRODUCTS) -> None:
    """In the child: read the snapshot block by block; send each block's rows, work on
    them from the back until the parent's share meets this one, send the result.

    The pass makes millions of short-lived objects and no reference cycles worth
    chasing: the cyclic collector runs a hundred times less often here (measured: a
    few percent of the child's time).
    """
    gc.freeze()
    gc.set_threshold(70_000, 100, 100)
    worker = PassWorker(job)
    theirs = block_products // 2  # the rows the parent took of the last block
    for number, rows in enumerate(store_blocks(job, block_products)):
        # The parent is sent the rows it took last time and a quarter more: enough to
        # follow a change of pace, without piping every row twice.
        limit = min(len(rows), theirs + len(rows) // 4 + _STEP)
        claims.open(number, len(rows), limit)
        send((_ROWS, number, rows[:limit]))
        parts = []
        theirs = len(rows)
        while (taken := claims.back(_STEP)) is not None:
            parts.append(worker.run(rows[taken[0]:taken[1]]))
            theirs = taken[0]
        parts.reverse()
        send((_DONE, number, merge(parts) if parts else None))
