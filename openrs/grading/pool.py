"""Answer grading with math-verify in worker processes, each item under a hard time bound.

math-verify's own timeouts use signal.alarm: they only work on a main thread, in whole seconds, and cannot
interrupt a long C-level computation (sympy evaluating 10^{10^{10}}). Here every item is parsed and
verified in a worker process (on its own main thread, with a memory cap); the parent kills a worker whose
item overruns `timeout_s`, scores that item wrong, and starts a replacement from a forkserver that has
math-verify imported already. Callers may be on any thread.

Outcomes: correct -> 1.0; wrong, no_answer, unparseable_prediction, too_long, timeout, error -> 0.0;
unparseable_gold -> None (TRL skips None rewards). A prediction that times out or makes its worker fail
(memory cap, crash) is wrong: were it skipped, a policy would be paid, relative to a wrong answer, for
answers the grader cannot finish. Only when the gold answer itself does not parse (a data problem) is the
item skipped, so a timeout or error is checked against the gold answer alone first.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import wait

from openrs.grading.answers import Gold
from openrs.grading.paper_protocol import PaperGold

SCORES = {
    "correct": 1.0,
    "wrong": 0.0,
    "no_answer": 0.0,
    "unparseable_prediction": 0.0,
    "too_long": 0.0,
    "timeout": 0.0,
    "error": 0.0,
    "unparseable_gold": None,
}
Item = tuple[Gold, str | None] | tuple[PaperGold, str]
"""(gold, boxed answer or None), or (paper-protocol gold, whole completion)."""


def _serve(conn, memory_mb: int) -> None:
    # Imported here, not at the top: the training process must not load math-verify or run its warm-up;
    # in a worker the import is free, the forkserver preloaded it.
    from openrs.grading.worker import serve

    serve(conn, memory_mb)


@contextlib.contextmanager
def _unless_main_is_stdin():
    """Start processes without re-running the main module when it is not a file (`python - <<EOF`).

    A forkserver child re-runs the parent's main module from its `__file__`, and for a script read on
    standard input that is `<stdin>`, which cannot be opened: every worker would die on start. The workers
    need nothing from the main module, so for that case it is hidden while they start."""
    main = sys.modules["__main__"]
    path = getattr(main, "__file__", None)
    if path is None or getattr(main.__spec__, "name", None) or os.path.exists(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class _Worker:
    # The first start waits for the forkserver to import and warm up math-verify (seconds on a busy node).
    startup_s = 300.0

    def __init__(self, ctx: mp.context.BaseContext, memory_mb: int):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, memory_mb), daemon=True, name="openrs-grader")
        with _unless_main_is_stdin():
            self.proc.start()
        child.close()
        self.keys: collections.deque[int] = collections.deque()  # in flight, in the order they are graded
        self.since = 0.0  # when the item at keys[0] started

    def wait_ready(self) -> None:
        """Return once the worker serves; raise RuntimeError at once if it died starting."""
        try:
            if self.conn.poll(self.startup_s) and self.conn.recv() == "ready":
                return
        except (EOFError, OSError):
            pass
        self.proc.join(timeout=5)
        main = sys.modules["__main__"]
        name = getattr(main.__spec__, "name", None) or getattr(main, "__file__", None) or "__main__"
        raise RuntimeError(
            f"openrs grading: a grading worker process could not start (exit code {self.proc.exitcode}; its "
            f"traceback, if any, is above). Each worker re-runs the main module ({name}) on start, as "
            "multiprocessing's forkserver does: if that module starts a grading pool, a reward or training when "
            'imported, put that code under `if __name__ == "__main__":`.'
        )

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


class GradingPool:
    """Worker processes that grade (gold, prediction) items in parallel, each within `timeout_s` seconds.

    workers: processes (None = CPU cores); memory_mb: address-space cap per worker; max_answer_chars:
    longer predictions score too_long unparsed. Start once per job (see `shared_pool`); `grade` is
    thread-safe and survives hung or crashing items."""

    # Items sent to a worker at once: fewer round trips, while a hung item delays only its own chunk.
    chunk = 16

    def __init__(self, workers: int | None, timeout_s: float, memory_mb: int, max_answer_chars: int):
        self.n_workers = workers or os.cpu_count() or 1
        self.timeout_s, self.memory_mb, self.max_answer_chars = timeout_s, memory_mb, max_answer_chars
        self._ctx = mp.get_context("forkserver")
        # Workers fork from a server that has imported and warmed up math-verify: a replacement for a
        # killed worker is ready in milliseconds instead of a second. Server and workers ignore the signals
        # that stop a training job, so that it can still grade while it checkpoints (openrs.grading.shield).
        self._ctx.set_forkserver_preload(["openrs.grading.shield", "openrs.grading.worker"])
        self._workers = [_Worker(self._ctx, memory_mb) for _ in range(self.n_workers)]
        try:
            for w in self._workers:
                w.wait_ready()
        except RuntimeError:
            self.close()
            raise
        self._lock = threading.Lock()
        self._cache: collections.OrderedDict[Item, str] = collections.OrderedDict()
        self._gold_parses: dict[Gold, bool] = {}
        self.counts: collections.Counter[str] = collections.Counter()
        self.seconds = 0.0
        self.restarts = 0

    def grade(self, items: Sequence[Item]) -> list[str]:
        """Outcome (a key of SCORES) for each (gold, prediction) item; prediction None means no answer.

        Predictions longer than max_answer_chars are not parsed (too_long): no real answer is that long,
        and math-verify's cost grows steeply with length. PaperGold items carry whole completions and are
        graded whatever their length (only the time bound applies), and are not cached."""
        start = time.perf_counter()
        with self._lock:
            # A PaperGold item's prediction is a whole completion: the boxed-answer length bound does not apply.
            too_long = [isinstance(g, Gold) and p is not None and len(p) > self.max_answer_chars for g, p in items]
            outcomes: list[str | None] = [
                "no_answer" if p is None else "too_long" if long else None
                for (_, p), long in zip(items, too_long, strict=True)
            ]
            todo = list(
                dict.fromkeys(i for i, o in zip(items, outcomes, strict=True) if o is None and i not in self._cache)
            )
            fresh = self._run(todo)
            for item, outcome in fresh.items():
                if outcome in ("timeout", "error") and isinstance(item[0], Gold) and not self._gold_ok(item[0]):
                    fresh[item] = outcome = "unparseable_gold"
                if isinstance(item[0], Gold):  # whole completions (PaperGold items) rarely repeat and are large
                    self._cache[item] = outcome
            outcomes = [o or fresh.get(i) or self._cache[i] for i, o in zip(items, outcomes, strict=True)]
            self.counts.update(outcomes)
            while len(self._cache) > 16384:
                self._cache.popitem(last=False)
        self.seconds += time.perf_counter() - start
        return outcomes

    def scores(self, items: Sequence[Item]) -> list[float | None]:
        """SCORES of `grade(items)`: 1.0, 0.0 or None per item."""
        return [SCORES[o] for o in self.grade(items)]

    def _run(self, todo: list[Item]) -> dict[Item, str]:
        results: dict[Item, str] = {}
        pending = collections.deque(range(len(todo)))
        while pending or any(w.keys for w in self._workers):
            for w in self._workers:
                if not w.keys and pending:
                    # Smaller chunks near the end of a batch, so no worker is left with a long tail.
                    size = max(1, min(self.chunk, len(pending) // (2 * self.n_workers)))
                    w.keys.extend(pending.popleft() for _ in range(size))
                    w.conn.send([(k, *todo[k]) for k in w.keys])
                    w.since = time.monotonic()
            busy = {w.conn: w for w in self._workers if w.keys}
            first_deadline = min(w.since for w in busy.values()) + self.timeout_s
            for conn in wait(list(busy), timeout=max(0.0, first_deadline - time.monotonic())):
                w = busy[conn]
                try:
                    while w.keys and conn.poll():
                        key, outcome = conn.recv()
                        results[todo[w.keys.popleft()]] = outcome
                        w.since = time.monotonic()
                except (EOFError, OSError):  # the worker died under an item
                    self._replace(w, pending, results, todo, "error")
            now = time.monotonic()
            for w in busy.values():
                if w.keys and now - w.since > self.timeout_s:
                    self._replace(w, pending, results, todo, "timeout")
        return results

    def _gold_ok(self, gold: Gold) -> bool:
        # The gold answer alone, within the same bound: a gold that hangs or crashes is unusable too.
        if gold not in self._gold_parses:
            self._gold_parses[gold] = self._run([(gold, None)])[gold, None] == "no_answer"
        return self._gold_parses[gold]

    def _replace(self, w: _Worker, pending, results, todo, outcome: str) -> None:
        results[todo[w.keys.popleft()]] = outcome
        pending.extendleft(reversed(w.keys))
        w.keys.clear()
        w.kill()
        fresh = _Worker(self._ctx, self.memory_mb)
        self._workers[self._workers.index(w)] = fresh
        self.restarts += 1
        fresh.wait_ready()

    def alive(self) -> bool:
        return all(w.proc.is_alive() for w in self._workers)

    def take_metrics(self) -> dict[str, float]:
        """Counts per outcome (of every item, cached or not) and grading seconds since the last call, as
        `grading/<name>` metrics."""
        metrics = {f"grading/{k}": float(v) for k, v in self.counts.items()}
        metrics["grading/seconds"] = self.seconds
        self.counts.clear()
        self.seconds = 0.0
        return metrics

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self._workers:
            w.proc.join(timeout=1)
            if w.proc.is_alive():
                w.kill()


_shared: dict[tuple, GradingPool] = {}


def shared_pool(workers: int | None, timeout_s: float, memory_mb: int, max_answer_chars: int) -> GradingPool:
    """The job's one pool for these settings, started on first use and closed at exit."""
    key = (workers, timeout_s, memory_mb, max_answer_chars)
    if key not in _shared:
        _shared[key] = GradingPool(workers, timeout_s, memory_mb, max_answer_chars)
        atexit.register(_shared[key].close)
    return _shared[key]
