"""Service benchmark: locust (headless) against `socialrating serve` on loopback.

Two phases, each bounded in time, against a copy of a run folder:
1. relying-party checks with no pause (`--check-users` users): checks/s, p50/p99 latency,
   errors; then, with the server stopped, the check log is counted and verified: every
   check answered must be in it;
2. citizens (`--citizens` users, 50 by default) logging in with their own codes and
   reading their record page with a second's pause: p95 of the page.
Targets (issue 16): >= 2,000 checks/s with p99 <= 50 ms and no errors; citizen pages
p95 <= 200 ms at 50 users. Each figure is printed with its ratio to the target.
The embedded store by default; `--db postgresql://...` copies the run's store into
that (empty) database first and serves from it.

    python benchmarks/service.py --run runs/demo [--db URL|throwaway] [--workers N] [--seconds 20] [--check-users 16]

`--workers N` (PostgreSQL only) starts `serve --workers N`; the server's CPU is then
summed over its processes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TARGET_RATE, TARGET_P99, TARGET_PAGE_P95 = 2000.0, 50.0, 200.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(run: Path, work: Path, db: str | None, n_citizens: int) -> tuple[Path, dict]:
    """Copy the run, issue an org key and one code per citizen user; the locust input file."""
    from socialrating.store import access
    from socialrating.store.contest import open_store
    from socialrating.web.service import format_snils

    dst = work / "run"
    t = time.perf_counter()
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("report.html", "audit*", "compare-*"))
    if db:
        copy_store(dst, db)
    people = pl.read_parquet(dst / "citizens.parquet", columns=["citizen_id", "snils"]).drop_nulls("snils")
    cons = pl.read_parquet(dst / "current_consequences.parquet", columns=["context"])
    contexts = sorted(set(cons["context"].unique().to_list()))
    sample = people.sample(min(20_000, people.height), seed=1)
    with open_store(dst, db) as store:
        _, key = access.issue(store, "org", "Bench Bank", contexts=tuple(contexts))
        logins = []
        for cid, snils in people.head(n_citizens).iter_rows():
            _, code = access.issue(store, "citizen", "bench", citizen_id=cid)
            logins.append({"snils": format_snils(snils), "code": code})
    data = {"key": key, "contexts": contexts, "snils": [format_snils(s) for s in sample["snils"].to_list()],
            "logins": logins}
    path = work / "input.json"
    path.write_text(json.dumps(data))
    print(f"prepared {dst} ({people.height:,} people) in {time.perf_counter() - t:.0f} s", flush=True)
    return dst, {"input": path}


def copy_store(run: Path, db: str) -> None:
    """The run's ledger store (entries, blocks, changes) into an empty PostgreSQL database,
    through CSV and COPY; the service is then started with --db (the folder is not touched)."""
    import psycopg

    from socialrating.store.ledger_store import LedgerStore

    LedgerStore.open(db).close()  # creates the tables
    store = LedgerStore.open(run / "ledger.duckdb", read_only=True)
    src = store._db.con  # its entries are a view over the store's Parquet segments on this connection
    with psycopg.connect(db, autocommit=True) as con:
        for table in ("ledger_entries", "ledger_blocks", "ledger_changes"):
            cols = [r[0] for r in src.execute(f"DESCRIBE {table}").fetchall()]
            tmp = run.parent / f"{table}.csv"
            src.execute(f"COPY (SELECT * FROM {table}) TO '{tmp}' (HEADER false, NULL '\\N', FORCE_QUOTE *)")
            with con.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp:
                with tmp.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        cp.write(chunk)
            tmp.unlink()
    store.close()


def start_server(run: Path, db: str | None, port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    cmd = [str(BIN / "socialrating"), "serve", str(run), "--port", str(port), "--logins-per-minute", "1000",
           "--workers", str(workers)] + (["--db", db] if db else [])
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    for _ in range(1200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the server did not start; see {log}")


def wait_workers(port: int, workers: int, log: Path, limit: float = 600) -> None:
    """Every worker has read the run (each logs "Application startup complete")."""
    t = time.perf_counter()
    while log.read_text().count("Application startup complete") < workers:
        if time.perf_counter() - t > limit:
            raise RuntimeError(f"the workers did not start; see {log}")
        time.sleep(0.5)


def locust(port: int, input_path: Path, users: int, seconds: int, out: Path, check: bool) -> dict:
    env = {**os.environ, "SR_BENCH_INPUT": str(input_path), "SR_BENCH_ANSWERS": str(out) + "_answers.json",
           "SR_CHECK_WEIGHT": "1" if check else "0",
           "SR_CITIZEN_WEIGHT": "0" if check else "1"}
    user = "RelyingParty" if check else "Citizen"
    # citizens log in (scrypt) as they arrive, 10 a second; the figures count from when all are in
    rate = users if check else 10
    subprocess.run([str(BIN / "locust"), "-f", str(HERE / "service_locust.py"), user, "--headless",
                    "-u", str(users), "-r", str(rate), "-t", f"{seconds + users // rate}s",
                    *([] if check else ["--reset-stats"]), "--host", f"http://127.0.0.1:{port}", "--csv", str(out), "--only-summary", "--stop-timeout", "5"],
                   env=env, check=False, capture_output=True, timeout=seconds + 180)
    rows = {r["Name"]: r for r in csv.DictReader((out.parent / f"{out.name}_stats.csv").open())}
    for f in csv.DictReader((out.parent / f"{out.name}_failures.csv").open()):
        print(f"  failures: {f['Occurrences']} x {f['Method']} {f['Name']}: {f['Error'][:120]}")
    return rows


def _f(row: dict, key: str) -> float:
    v = row.get(key) or "0"
    return float(v) if v != "N/A" else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children (Linux /proc): what the
    server itself spent (all its workers), whatever else the machine was doing."""
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def count_log(run: Path, db: str | None, answers: Path) -> tuple[int, str | None, int, int]:
    """Checks in the log, the first bad link (None: intact), answers received, and how many
    of those answers are in the log with the same id and hash."""
    from socialrating.store import access
    from socialrating.store.contest import open_store

    got = {int(i): h for i, h in json.loads(answers.read_text())} if answers.exists() else {}
    with open_store(run, db) as store:
        bad, why, n = access.verify_checks(store)
        logged = dict(store._db.fetchall("SELECT check_id, hash FROM access_checks"))  # noqa: SLF001
    return n, bad, len(got), sum(logged.get(i) == h for i, h in got.items())


def throwaway_postgres(root: Path) -> tuple[str, callable]:
    """A PostgreSQL cluster on a free loopback port (Debian's binaries, as tests/conftest.py)."""
    import glob
    import pwd

    bindir = os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1])
    prefix = []
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    subprocess.run(prefix + [f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                             "--no-locale"], check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w",
                             "start"], check=True, capture_output=True)
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as con:
        con.execute("CREATE DATABASE bench")

    def stop():
        subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

    return f"postgresql://postgres@127.0.0.1:{port}/bench", stop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True, help="a synthetic run folder (copied, never changed)")
    ap.add_argument("--db", default=None, help="an empty PostgreSQL database to serve the store from, or 'throwaway' "
                                               "to start a cluster for the run (Debian's postgresql binaries)")
    ap.add_argument("--seconds", type=int, default=20, help="length of each phase")
    ap.add_argument("--check-users", type=int, default=16)
    ap.add_argument("--citizens", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="server processes (PostgreSQL only)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sr-bench-"))
    stop_pg = None
    if args.db == "throwaway":
        args.db, stop_pg = throwaway_postgres(Path(tempfile.mkdtemp(prefix="sr-bench-pg-")))
    try:
        run, files = prepare(args.run, work, args.db, args.citizens)
        port = free_port()
        t = time.perf_counter()
        server = start_server(run, args.db, port, work / "server.log", args.workers)
        if args.workers > 1:
            time.sleep(1)
            wait_workers(port, args.workers, work / "server.log")
        print(f"server up in {time.perf_counter() - t:.1f} s ({'PostgreSQL' if args.db else 'embedded DuckDB'}, "
              f"{args.workers} process{'es' if args.workers > 1 else ''})", flush=True)
        try:
            cpu0 = cpu_seconds(server.pid)
            checks = locust(port, files["input"], args.check_users, args.seconds, work / "checks", True)["check"]
            cpu1 = cpu_seconds(server.pid)
            pages = locust(port, files["input"], args.citizens, args.seconds, work / "pages", False)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
        report(checks, pages, count_log(run, args.db, work / "checks_answers.json"), args)
        n = int(_f(checks, "Request Count"))
        per = 1000 * (cpu1 - cpu0) / max(n, 1)
        print(f"server CPU: {per:.2f} ms a check ({1000 / per:,.0f} checks/s a core if it had the core to itself); "
              f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if stop_pg:
            stop_pg()
        shutil.rmtree(work, ignore_errors=True)


def report(checks: dict, pages: dict, log: tuple, args) -> None:
    logged, bad, answers, found = log
    n, errors = int(_f(checks, "Request Count")), int(_f(checks, "Failure Count"))
    rate, p50, p99 = _f(checks, "Requests/s"), _f(checks, "50%"), _f(checks, "99%")
    page = pages.get("citizen page", {})
    print(f"checks: {n:,} in {args.seconds} s by {args.check_users} users: {rate:,.0f}/s "
          f"(x{rate / TARGET_RATE:.2f} of the {TARGET_RATE:,.0f}/s target); p50 {p50:.0f} ms, "
          f"p99 {p99:.0f} ms (x{p99 / TARGET_P99:.2f} of the {TARGET_P99:.0f} ms bound); errors {errors}")
    print(f"check log: {logged:,} checks, chain {'intact' if bad is None else 'BROKEN at ' + bad}; "
          f"{answers:,} answers received, {found:,} of them in the log with the same id and hash"
          f"{' (every one)' if found == answers else ' (MISSING ' + str(answers - found) + ')'}; "
          f"{logged - answers:,} logged but not received (in flight when the load stopped)")
    pn, p95, perr = int(_f(page, "Request Count")), _f(page, "95%"), int(_f(page, "Failure Count"))
    print(f"citizen pages: {pn:,} at {args.citizens} users: p95 {p95:.0f} ms "
          f"(x{p95 / TARGET_PAGE_P95:.2f} of the {TARGET_PAGE_P95:.0f} ms bound), p50 {_f(page, '50%'):.0f} ms, "
          f"errors {perr}")
    js = pages.get("citizen record (JSON)", {})
    print(f"citizen JSON record: p95 {_f(js, '95%'):.0f} ms over {int(_f(js, 'Request Count')):,} requests")


if __name__ == "__main__":
    main()
