"""Safe writes to a run folder: one lock, unique temporary files, fsync, atomic rename.

A utility below every pipeline stage (sources and store both write run folders).

Why: several commands (ingest, contest, resolve, verify) may run on one folder at once,
and any of them may be killed. Three rules make that safe:

* every writer holds the folder's advisory lock (``<dir>/.lock``, fcntl ``flock``)
  exclusively; readers that must see one consistent state (``verify``) hold it shared;
* every file is written to a unique temporary name in the same directory, flushed and
  fsynced, then renamed over the old one (``os.replace`` is atomic on POSIX), so a reader
  sees the old file or the new one, never half of either;
* a command that changes several files (and the ledger store) stages them all in
  ``<dir>/.txn/`` and writes a plan naming the store state it expects after its database
  transaction commits; only then are the staged files renamed into place.
  `recover` finishes (store state matches the plan) or discards (it does not) whatever
  a killed command left, so a folder is always either before or after a command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import polars as pl

LOCK_NAME = ".lock"
STAGE_NAME = ".txn"
PLAN_NAME = "PLAN.json"
#: seconds a command waits for another one's lock before giving up (override for slow disks)
LOCK_TIMEOUT = float(os.environ.get("SOCIALRATING_LOCK_TIMEOUT", "900"))


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


#: mkstemp makes files readable by their owner only; a run's files get the usual mode
FILE_MODE = 0o666 & ~_umask()


class FolderBusy(RuntimeError):
    """Another command has held the run folder's lock for longer than we wait."""


@contextlib.contextmanager
def folder_lock(run_dir: str | Path, *, shared: bool = False, timeout: float | None = None) -> Iterator[None]:
    """Hold ``<run_dir>/.lock`` (exclusive for writers, shared for consistent readers)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run folder")
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fh = open(run_dir / LOCK_NAME, "a")
    except OSError:
        if not shared:
            raise
        # a read-only copy (an auditor's): nobody can write it, so a reader needs no lock
        yield
        return
    with fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise FolderBusy(f"{run_dir}: another command has held the folder's lock for over "
                                     f"{timeout:.0f} s; try again when it has finished") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a unique temporary file beside `path`, fsync it, rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, FILE_MODE)
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    write_atomic(path, lambda p: p.write_bytes(data))


def write_parquet_atomic(frame: pl.DataFrame, path: str | Path) -> None:
    write_atomic(path, lambda p: frame.write_parquet(p, compression="zstd"))


class FolderTxn:
    """Files of one command staged in ``<dir>/.txn/`` and swapped in together (see module doc)."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.stage = self.run_dir / STAGE_NAME
        self.files: list[str] = []

    def begin(self) -> "FolderTxn":
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir()
        return self

    def path(self, rel: str) -> Path:
        """Where to write the new version of `rel` (a path relative to the run folder)."""
        p = self.stage / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel not in self.files:
            self.files.append(rel)
        return p

    def staged(self) -> dict[str, Path]:
        return {rel: self.stage / rel for rel in self.files}

    def prepare(self, expect: dict[str, Any]) -> None:
        """Fsync every staged file, then write the plan: from here the command can be finished."""
        for p in self.staged().values():
            with open(p, "rb+") as fh:
                os.fsync(fh.fileno())
        # manifest.json and manifest.sig go last: they describe the files before them
        order = sorted(self.files, key=lambda r: (r.startswith("manifest."), r == "manifest.sig", r))
        write_bytes_atomic(self.stage / PLAN_NAME,
                           json.dumps({"files": order, "expect": expect}, sort_keys=True).encode())

    def apply(self) -> None:
        _apply(self.run_dir)

    def abort(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)


def _apply(run_dir: Path) -> None:
    stage = run_dir / STAGE_NAME
    plan = json.loads((stage / PLAN_NAME).read_text())
    dirs = set()
    for rel in plan["files"]:
        src = stage / rel
        if src.exists():  # absent: already moved by an earlier, interrupted apply
            dst = run_dir / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            dirs.add(dst.parent)
    for d in dirs:
        _fsync_dir(d)
    shutil.rmtree(stage, ignore_errors=True)
    _fsync_dir(run_dir)


def pending(run_dir: str | Path) -> bool:
    return (Path(run_dir) / STAGE_NAME).exists()


def recover(run_dir: str | Path, store_state: Callable[[], dict[str, Any]] | None,
            valid: Callable[[Path, list[str]], bool] | None = None) -> str | None:
    """Finish or discard what a killed command left in ``.txn/`` (call with the lock held).

    Finished when its plan was written, the store is in the state the plan expects (its
    database transaction committed) and `valid(stage, files)` accepts the staged files
    (e.g. they match a manifest signed by the operator: nobody slips files in through
    ``.txn/``); discarded otherwise. Returns what was done.
    """
    run_dir = Path(run_dir)
    stage = run_dir / STAGE_NAME
    if not stage.exists():
        return None
    plan_path = stage / PLAN_NAME
    if not plan_path.exists():
        shutil.rmtree(stage, ignore_errors=True)
        return "discarded an interrupted command's unfinished files"
    plan = json.loads(plan_path.read_text())
    if (store_state is None or store_state() == plan["expect"]) and (valid is None or valid(stage, plan["files"])):
        _apply(run_dir)
        return "finished an interrupted command (its store transaction had committed)"
    shutil.rmtree(stage, ignore_errors=True)
    return "discarded an interrupted command (its store transaction had not committed)"
