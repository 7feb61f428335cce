"""The one thread pool: opened by the command that runs, sized by `--threads`, shut at its end.

The engine's compiled kernels (numba, `nogil`), the simulation's paired scenarios and the
synthetic world's two record streams all run on this pool; so do the shards of a sharded
run in one process, one per worker (simulate/shardworld.py), each one's own work then
running inline on its worker. The one other thread is the
ledger store's writer in a sharded run (simulate/shardworld.StoreWriter): one long task
that appends each finished shard's ledger while the next shards run, which would hold one
of these workers for the whole run. Nothing creates a thread at
import time: `threads(n)` opens the pool for the length of a command, and with no pool
open (a library call, a test) `current()` is a serial pool that runs everything on the
calling thread.

One pool for work that itself submits work can deadlock: a task holding a worker while it
waits for a task queued behind it. So work submitted from one of the pool's own workers
runs at once on that worker (it is already one of the `threads` running). Work submitted
from outside is queued in order, and a task only ever waits on work submitted before it,
so a waiting task never holds the worker its input needs.

Results never depend on the number of threads: callers split work at fixed offsets and
collect results in submission order.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_local = threading.local()  # .worker: this thread is one of the open pool's workers
_lock = threading.Lock()
_open: "Pool | None" = None


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _mark_worker() -> None:
    _local.worker = True


class Pool:
    """`threads` workers (none when 1: everything runs on the caller's thread)."""

    def __init__(self, threads: int):
        if threads < 1:
            raise ValueError(f"threads: expected 1 or more, got {threads}")
        self.threads = threads
        self._executor = (ThreadPoolExecutor(threads, thread_name_prefix="socialrating",
                                             initializer=_mark_worker) if threads > 1 else None)

    def _inline(self) -> bool:
        return self._executor is None or getattr(_local, "worker", False)

    def submit(self, fn: Callable, *args: Any) -> Future:
        """fn(*args) on a worker; from a worker (or a serial pool) at once, on this thread.
        The Future's .result() re-raises fn's error either way."""
        if not self._inline():
            return self._executor.submit(fn, *args)
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to .result(), like an executor's
            done.set_exception(exc)
        return done

    def starmap(self, fn: Callable, arg_tuples: Iterable[tuple]) -> list:
        """[fn(*a) for a in arg_tuples], in that order, on the workers."""
        futures = [self.submit(fn, *a) for a in arg_tuples]
        return [f.result() for f in futures]

    def map(self, fn: Callable, items: Iterable) -> list:
        """[fn(x) for x in items], in that order, on the workers."""
        return self.starmap(fn, ((x,) for x in items))

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)


_SERIAL = Pool(1)


def current() -> Pool:
    """The pool the running command opened, or a serial one when none is open."""
    return _open or _SERIAL


@contextlib.contextmanager
def threads(n: int | None = None) -> Iterator[Pool]:
    """Open the pool for a command: `n` threads (default: the CPUs available to the process).

    Opening while a pool is open (a command calling another) uses the open one."""
    global _open
    with _lock:
        outer = _open
        if outer is None:
            _open = Pool(available_cpus() if n is None else n)
        pool = _open
    try:
        yield pool
    finally:
        if outer is None:
            with _lock:
                _open = None
            pool.shutdown()
