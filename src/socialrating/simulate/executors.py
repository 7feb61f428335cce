"""Where a sharded run's shards run: in this process (the default, no cluster needed) or
as Dask actors, on a `LocalCluster` of worker processes or on an existing cluster.

An executor `spawn`s a stateful object (a shard's runner) where it will run and returns a
handle whose `call(method, *args)` gives a future (`.result()`). Dask is the engine: a
shard's runner is submitted with `client.submit(..., actor=True)`, lives in one worker
process for the whole run, and each month's step is a call on it; nothing here schedules.
Results never depend on the executor: the coordinator draws, orders and merges (shards.py).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from .. import parallel


class _Here:
    """A handle on an object in this process: calls run at once."""

    def __init__(self, obj: Any):
        self.obj = obj

    def call(self, method: str, *args) -> Future:
        f: Future = Future()
        f.set_result(getattr(self.obj, method)(*args))
        return f


class InProcess:
    """Every shard in this process: as many at once as the command's pool has threads
    (`side_by_side`; one after the other with one thread, each shard then using the pool)."""

    dashboard: str | None = None
    where = "in this process"
    parallel = False  # not all at once: at most `side_by_side` shards' months in memory

    @property
    def side_by_side(self) -> int:
        """Shards run at once: one per thread of the command's pool (socialrating.parallel)."""
        return parallel.current().threads

    def spawn(self, cls, *args) -> _Here:
        return _Here(cls(*args))

    def forget(self, handles) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Actor:
    def __init__(self, actor):
        self.actor = actor

    def call(self, method: str, *args):
        return getattr(self.actor, method)(*args)  # an ActorFuture: .result()


class DaskExecutor(InProcess):
    """Shards as Dask actors. scheduler "local": a LocalCluster of `workers` processes with
    one thread each (started here, closed at the end); otherwise the address of a running
    scheduler (tcp://HOST:PORT), whose workers must import socialrating. A script that
    starts a LocalCluster needs the usual `if __name__ == "__main__":` guard (its worker
    processes import the main module)."""

    #: shards run side by side (each in a worker), not one after the other
    parallel = True

    def __init__(self, scheduler: str, workers: int | None = None, timeout: float = 60):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - installed with the `cluster` extra
            raise ValueError(f"needs dask.distributed: pip install 'socialrating[cluster]' ({exc})") from exc
        self.cluster = None
        if scheduler == "local":
            self.cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=40)
            self.client = Client(self.cluster, timeout=timeout)
            self.where = f"a local Dask cluster of {workers or 2} worker processes"
        else:
            if not scheduler.startswith(("tcp://", "tls://", "inproc://")):
                raise ValueError(f"expected local or tcp://HOST:PORT, got {scheduler!r}")
            self.client = Client(scheduler, timeout=timeout)
            self.where = f"the Dask cluster at {scheduler}"
        self.dashboard = self.client.dashboard_link

    def spawn(self, cls, *args) -> _Actor:
        return _Actor(self.client.submit(cls, *args, actor=True, pure=False).result())

    def forget(self, handles) -> None:
        for h in handles:
            del h.actor

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def executor(scheduler: str | None, workers: int | None = None) -> InProcess:
    """In this process without a scheduler; else Dask (see DaskExecutor)."""
    if workers is not None and scheduler != "local":
        raise ValueError("--workers needs --scheduler local (a running cluster has its own workers)")
    if scheduler is None:
        return InProcess()
    return DaskExecutor(scheduler, workers)
