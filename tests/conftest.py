"""Shared fixtures: a throwaway PostgreSQL server for the ledger-store tests.

The server is started from Debian's postgresql binaries (initdb + pg_ctl, as the
`postgres` user when running as root). Without the binaries or psycopg the PostgreSQL
tests are skipped locally and FAIL when CI=true.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest
from hypothesis import Phase, settings

# Hypothesis: derandomised in CI (a failure reproduces run after run), random locally to
# explore; `--hypothesis-profile` still overrides. Example counts stay as each test sets them.
# Mutation runs (scripts/mutation.py) draw the CI profile's examples but skip shrinking: a
# mutant's verdict needs a failure, not the smallest one, and shrinking a month-by-month
# simulation takes minutes per mutant.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("mutation", derandomize=True, phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.register_profile("dev", derandomize=False)
settings.load_profile("mutation" if os.environ.get("SOCIALRATING_MUTATION") else "ci" if os.environ.get("CI") else "dev")

# The operator's signing key (store/seal.py) is made on first use in this directory: tests
# never touch the real per-user key. One key for the session, as one operator would have.
os.environ.setdefault("SOCIALRATING_KEY_DIR", tempfile.mkdtemp(prefix="sr-keys-"))


def _unavailable(why: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL tests cannot run in CI: {why}")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """Start a throwaway PostgreSQL cluster on 127.0.0.1; yield a URL prefix."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        _unavailable("PostgreSQL binaries not found (apt-get install -y postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'psycopg[binary]')")
    bindir = os.path.dirname(bins[-1])
    prefix: list[str] = []
    root = tempfile.mkdtemp(prefix="sr-pg-")
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no 'postgres' user to run the server")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(root, "data")
    port = _free_port()

    def run(*cmd):
        subprocess.run(prefix + list(cmd), check=True, capture_output=True, text=True)

    try:
        run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-locale")
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off " \
               "-c synchronous_commit=off -c full_page_writes=off"
        run(f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(root, "log"), "-w",
            "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(prefix + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)



_pg_dbs = itertools.count()


@pytest.fixture
def pg_database(pg_server):
    """A fresh, empty database on the throwaway server; yields its URL."""
    import psycopg

    name = f"t_{os.getpid()}_{next(_pg_dbs)}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return f"{pg_server}/{name}"


# ---------------------------------------------------------------- the web service's run
@pytest.fixture(scope="session")
def web_run(tmp_path_factory):
    """A small synthetic run (tests/web_fixture.py), built once for every web test."""
    from web_fixture import build_run

    return build_run(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="session")
def web_wronged(web_run):
    from web_fixture import find_wronged

    return find_wronged(web_run)
