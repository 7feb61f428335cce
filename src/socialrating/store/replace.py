"""`run --out DIR`: build the run in a new folder beside DIR, swap it in only when complete.

Why: writing a run straight into an existing folder mixed a new run's files with an
old one's (report, audit, ingested records) and, on failure, left neither. A run is
built in ``.<name>.building-<pid>`` next to DIR; only a complete, sealed folder replaces
DIR (under DIR's lock, so a contest in progress finishes first). DIR is replaced only if
it is empty or a run folder, and a run folder holding what no re-run can recreate
(contests or reviews by people, ingested records) only with ``overwrite``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from ..atomic import folder_lock
from .ledger_store import StoreUnavailable


class RunReplaceError(ValueError):
    """DIR cannot be replaced by a new run."""


def held_records(out: Path) -> list[str]:
    """What the run folder holds that a new run would lose (empty: safe to replace)."""
    m = json.loads((out / "manifest.json").read_text())
    held = []
    ch = m.get("changes") or {}
    made = int(ch.get("count") or 0) - int(m.get("simulated_changes", ch.get("count") or 0))
    if made > 0:
        held.append(f"{made} contest or review change(s)")
    ing = out / "ingested"
    if ing.is_dir() and any(ing.iterdir()):
        held.append("ingested records (ingested/)")
    return held


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse a target that is not a run folder, or one holding records, unless overwrite."""
    if not out.exists():
        return
    if not out.is_dir():
        raise RunReplaceError(f"{out}: exists and is not a folder; give another --out")
    if not any(out.iterdir()):
        return
    if not (out / "manifest.json").is_file():
        raise RunReplaceError(f"{out}: not a run folder (no manifest.json) and not empty; "
                              "refusing to replace it - give another --out")
    try:
        held = held_records(out)
    except (ValueError, OSError) as exc:
        raise RunReplaceError(f"{out}: its manifest.json cannot be read ({exc}); refusing to replace it") from None
    if held and not overwrite:
        raise RunReplaceError(f"{out}: holds {' and '.join(held)}, which a new run would lose; "
                              "give --overwrite to replace it, or another --out")


def build_and_swap(out: str | Path, build: Callable[[Path], dict[str, Any]], *, overwrite: bool = False) -> dict:
    """Build the run with `build(staging)` and swap it in for `out`; returns build's result."""
    out = Path(out).resolve()
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise RunReplaceError(f"{out}: is the current folder or holds it; a run is swapped in as a whole "
                              "folder, so give --out a folder below the current one (e.g. runs/latest)")
    check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(out)
    staging = out.parent / f".{out.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        result = build(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    try:
        if out.exists():
            with folder_lock(out):
                check_target(out, overwrite)  # a contest may have landed while we built
                os.replace(out, old)
        os.replace(staging, out)
    except BaseException:
        if old.exists() and not out.exists():
            os.replace(old, out)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return result


def _clear_leftovers(out: Path) -> None:
    """Remove staging and old folders of runs into `out` whose process is gone (killed)."""
    for p in out.parent.glob(f".{out.name}.*-*"):
        kind, _, pid = p.name.rpartition("-")
        if not kind.endswith((".building", ".old")) or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except PermissionError:  # someone else's live process
            pass


def describe_failure(exc: BaseException) -> str | None:
    """One line for a failure of the store or the disk during a run; None if it is a bug."""
    if isinstance(exc, (StoreUnavailable, OSError)):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        psycopg = None
    if psycopg is not None and isinstance(exc, psycopg.Error):
        lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
        return "the ledger store (PostgreSQL) failed: " + (lines[0] if lines else type(exc).__name__)
    import duckdb

    if isinstance(exc, duckdb.Error):
        return "the ledger store (DuckDB) failed: " + (str(exc).strip().splitlines() or [""])[0]
    return None
