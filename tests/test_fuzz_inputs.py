"""Fuzz suite (issue #11): malformed ingest files and policies never crash a command.

Hypothesis generates CSV bytes (random, and structured rows with hostile values),
Parquet files with random schemas (nested, binary, time types; truncated) and mutations
of the built-in policies (values swapped for hostile ones, keys dropped or added, the
text cut and spliced). For every example:

* no traceback: the function raises only its own error (IngestError, PolicyError) with
  a one-line message naming the file, and the command line exits 2 printing exactly one
  `error: <file>: ...` line (exit 0 when the input is fine);
* no hang: each example runs under a 2-second alarm (a hang guard, not a benchmark);
* nothing lost: records in = accepted + quarantined + already present, and records in
  equals the rows written; a refused file leaves the run folder as it was;
* a policy that validates can be linted and scored by the engine (`check` accepts only
  what `run` can compute).

In CI the examples are derandomised (tests/conftest.py, profile "ci").
"""

from __future__ import annotations

import contextlib
import copy
import csv
import datetime as dt
import io
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from socialrating.cli import app
from socialrating.engine.score import score
from socialrating.policy.catalog import CATALOG
from socialrating.policy.lint import lint
from socialrating.policy.load import PolicyError, builtin_names, builtin_path, parse_policy
from socialrating.population.generate import generate_population
from socialrating.sources.ingest import IngestError, ingest_file

AS_OF = dt.date(2025, 6, 1)
HANG_SECONDS = 2.0
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.function_scoped_fixture])
TAX_COLUMNS = ["record_id", "event_type", "occurred_on", "reported_on", "amount", "inn"]


@contextlib.contextmanager
def no_hang(seconds: float = HANG_SECONDS):
    """Fail the example if it runs longer than `seconds` (SIGALRM; the tests run on the main thread)."""
    def alarm(signum, frame):
        raise TimeoutError(f"hung: still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def one_line(msg: str, name: str) -> None:
    assert "\n" not in msg and "Traceback" not in msg, msg
    assert msg.startswith(name) or msg.startswith(str(name)), msg


# ---- ingest -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small register, and one warm-up ingest so imports and compilation are not timed."""
    base = tmp_path_factory.mktemp("fuzz-world")
    people = generate_population(300, seed=5)
    people.write_parquet(base / "citizens.parquet")
    inns = [int(x) for x in people["inn"].drop_nulls().head(20)]
    warm = base / "warm.csv"
    warm.write_text(",".join(TAX_COLUMNS) + f"\nw1,tax.arrears,2024-01-05,2024-01-09,10,{inns[0]}\n")
    ingest_file("tax", warm, base, as_of=AS_OF)
    shutil.rmtree(base / "ingested")
    return base, inns


@contextlib.contextmanager
def run_folder(world):
    """A fresh run folder (its own copy of the register) for one example."""
    base, _ = world
    with tempfile.TemporaryDirectory(prefix="fuzz-run-") as d:
        shutil.copy(base / "citizens.parquet", Path(d) / "citizens.parquet")
        yield Path(d)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, but the folder's lock file (empty; taken by every writer, it holds no content)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def ingest_checked(path: Path, folder: Path, rows: int | None = None):
    """Ingest under the hang guard; assert nothing lost, or one error line and nothing changed."""
    before = snapshot(folder)
    try:
        with no_hang():
            rep = ingest_file("tax", path, folder, as_of=AS_OF)
    except IngestError as exc:
        one_line(str(exc), path.name)
        assert snapshot(folder) == before
        event("file refused: " + str(exc).split(": ")[1][:30])
        return None
    event(f"read: {'some' if rep.accepted else 'none'} accepted, {'some' if rep.quarantined else 'none'} quarantined")
    assert rep.records_in == rep.accepted + rep.quarantined_total + rep.already_present
    if rows is not None:
        assert rep.records_in == rows
    q = folder / "ingested" / "tax.quarantine.parquet"
    if rep.quarantined_total:
        assert pl.read_parquet(q).height == rep.quarantined_total  # every quarantined row is on file, with its reason
    return rep


@settings(FUZZ, max_examples=60)
@given(data=st.binary(max_size=600))
def test_random_bytes_as_csv(world, data):
    with run_folder(world) as folder:
        path = folder / "random.csv"
        path.write_bytes(data)
        ingest_checked(path, folder)


HOSTILE_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "NaN", "nan", "inf", "-inf", "1e308", "-5", "0", "1e999", "NA", "null", "\"", ",",
                     "\n", "\r\n", "2024-02-30", "1850-01-01", "0001-01-01", "9999-12-31", "01.05.2024", "x" * 300,
                     "a\u202eb", "a\x00b", "a\x07b", "\ufeff", "speech.post", "tax.arrears", "tax.income_declared",
                     "fine.traffic", "500100732259", "12345", "-1", "1e12", "1000000000001"]),
)


@st.composite
def csv_files(draw, inns):
    """CSV text with the tax header (sometimes altered) and rows of hostile values."""
    header = list(TAX_COLUMNS)
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if draw(st.integers(0, 9)) == 0:
        header.append(draw(st.sampled_from(["extra", "", "inn", "Record_ID"])))
    n = draw(st.integers(0, 12))
    rows = []
    for i in range(n):
        row = {c: draw(HOSTILE_TEXT) for c in header}
        if draw(st.booleans()):  # mostly plausible rows, so that some are accepted
            row.update(record_id=f"r{i}", event_type="tax.arrears", occurred_on="2024-03-01",
                       reported_on="2024-03-02", amount=str(draw(st.floats(0, 1e6))), inn=str(draw(st.sampled_from(inns))))
            row.update({c: draw(HOSTILE_TEXT) for c in draw(st.lists(st.sampled_from(header), max_size=2))})
        rows.append([row[c] for c in header])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    text = out.getvalue()
    ragged = draw(st.integers(0, 7)) == 0 and n > 0
    if ragged:
        text += ",".join(["x"] * draw(st.sampled_from([1, len(header) + 1]))) + "\n"
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["latin-1", "cp1251"]))
    return text.encode(encoding, errors="replace"), n, ragged


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_structured_csv_with_hostile_values(world, data):
    raw, n, ragged = data.draw(csv_files(world[1]))
    with run_folder(world) as folder:
        path = folder / "tax.csv"
        path.write_bytes(raw)
        clean = not ragged and b"\x00" not in raw and len(set(raw.split(b"\n")[0].split(b","))) == len(raw.split(b"\n")[0].split(b","))
        rep = ingest_checked(path, folder, rows=None)
        if rep is not None and clean:
            assert rep.records_in == n  # every row written is counted
        if ragged:
            assert rep is None  # a ragged row refuses the file


ARROW_TYPES = {
    "string": (pa.string(), st.text(max_size=8)),
    "large_string": (pa.large_string(), st.text(max_size=8)),
    "int64": (pa.int64(), st.integers(-2**63, 2**63 - 1)),
    "int8": (pa.int8(), st.integers(-128, 127)),
    "uint64": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "float64": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "float32": (pa.float32(), st.floats(width=32)),
    "bool": (pa.bool_(), st.booleans()),
    "date32": (pa.date32(), st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))),
    "timestamp": (pa.timestamp("us"), st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31))),
    "timestamp_tz": (pa.timestamp("ms", tz="Europe/Moscow"), st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1))),
    "null": (pa.null(), st.none()),
    "dict": (pa.dictionary(pa.int32(), pa.string()), st.sampled_from(["tax.arrears", "speech.post", "x"])),
    "decimal": (pa.decimal128(20, 2), st.decimals(-10**6, 10**6, places=2, allow_nan=False)),
    "binary": (pa.binary(), st.binary(max_size=6)),
    "list": (pa.list_(pa.int64()), st.lists(st.integers(-5, 5), max_size=3)),
    "struct": (pa.struct([("a", pa.int64())]), st.fixed_dictionaries({"a": st.integers(-5, 5)})),
    "time": (pa.time64("us"), st.times()),
    "duration": (pa.duration("s"), st.timedeltas(dt.timedelta(days=-9), dt.timedelta(days=9))),
}


@st.composite
def parquet_files(draw):
    n = draw(st.integers(0, 8))
    names = draw(st.lists(st.sampled_from(TAX_COLUMNS + ["extra"]), min_size=0, max_size=7, unique=True))
    if draw(st.booleans()):
        names = list(dict.fromkeys(["record_id", "event_type", "occurred_on", "inn", *names]))
    cols = {}
    for c in names:
        kind = draw(st.sampled_from(sorted(ARROW_TYPES)))
        typ, values = ARROW_TYPES[kind]
        vals = [draw(st.one_of(st.none(), values)) for _ in range(n)]
        cols[c] = pa.array(vals, type=typ) if kind != "dict" else pa.array(vals, pa.string()).dictionary_encode()
    buf = io.BytesIO()
    pq.write_table(pa.table(cols) if cols else pa.table({"record_id": pa.array([], pa.string())}), buf)
    data = buf.getvalue()
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return (data if cut is None else data[:cut]), (n if cols else 0), cut is None or cut >= len(data)


@settings(FUZZ, max_examples=120)
@given(spec=parquet_files())
def test_parquet_with_random_schemas(world, spec):
    data, n, whole = spec
    with run_folder(world) as folder:
        path = folder / "tax.parquet"
        path.write_bytes(data)
        rep = ingest_checked(path, folder)
        if rep is not None:
            assert whole and rep.records_in == n


def _ingest_cli(path: Path, folder: Path):
    with no_hang():
        return CliRunner().invoke(app, ["ingest", str(path), "--source", "tax", "--into", str(folder),
                                        "--as-of", str(AS_OF)], env={"COLUMNS": "80"})


def assert_cli_outcome(res, name: str) -> None:
    """Exit 0, or exit 2 with exactly one `error: <file>: ...` line; never an uncaught exception."""
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 2), (res.exit_code, res.output)
    if res.exit_code == 2:
        assert res.output.count("\n") == 1 and res.output.startswith("error: "), res.output
        assert name in res.output, res.output


@pytest.fixture(scope="module")
def sealed_run(tmp_path_factory):
    """A real (sealed, signed) run folder of 300 people: `ingest` joins records to a run's record."""
    from socialrating.simulate.simulation import SimConfig, simulate

    out = tmp_path_factory.mktemp("fuzz-sealed") / "run"
    simulate(SimConfig(people=300, years=0.5, seed=5, start=dt.date(2025, 1, 1), world="synthetic", store=True,
                       history_years=0.0), out)  # as of 2025-06-30, after AS_OF
    return out


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_ingest_command_on_hostile_files(world, sealed_run, data):
    kind = data.draw(st.sampled_from(["bytes", "csv", "parquet"]))
    with tempfile.TemporaryDirectory(prefix="fuzz-cli-") as d:
        folder = Path(d) / "run"
        shutil.copytree(sealed_run, folder)
        if kind == "parquet":
            raw = data.draw(parquet_files())[0]
            path = Path(d) / "in.parquet"
        else:
            raw = data.draw(st.binary(max_size=300)) if kind == "bytes" else data.draw(csv_files(world[1]))[0]
            path = Path(d) / "in.csv"
        path.write_bytes(raw)
        assert_cli_outcome(_ingest_cli(path, folder), path.name)


# ---- policies -----------------------------------------------------------------------

DOCS = {n: yaml.safe_load(builtin_path(n).read_text()) for n in builtin_names()}
TEXTS = {n: builtin_path(n).read_text() for n in builtin_names()}
EVENTS = pl.DataFrame({
    "citizen_id": np.arange(2 * len(CATALOG)) % 5,
    "event_type": [e.name for e in CATALOG] * 2,
    "occurred_on": [dt.date(2024, 1, 1)] * len(CATALOG) + [dt.date(1999, 6, 30)] * len(CATALOG),
    "amount": [1e12] * len(CATALOG) + [None] * len(CATALOG),
    "source": [e.source for e in CATALOG] * 2,
    "record_id": [str(i) for i in range(2 * len(CATALOG))],
})
HOSTILE_VALUES = st.one_of(
    st.integers(-10**25, 10**25), st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(), st.text(max_size=10),
    st.sampled_from(["2024-02-30", "0001-01-01", "9999-12-31", "1900-01-01", "2199-12-31", "speech.post",
                     "location.gps_ping", "fine.trafic", "fine.traffic", "court.dishonest_debtor", "A", "Z"]),
    st.lists(st.integers(-2, 2), max_size=2), st.fixed_dictionaries({"lt": st.integers(-10**12, 10**12)}),
)


def _at(doc, path):
    for part in path:
        doc = doc[part]
    return doc


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated_policies(draw):
    name = draw(st.sampled_from(sorted(DOCS)))
    doc = copy.deepcopy(DOCS[name])
    if draw(st.booleans()):  # numbers only, to the edge of what validates: what passes must run
        leaves = [p for p in _paths(doc) if p and isinstance(_at(doc, p), (int, float)) and not isinstance(_at(doc, p), bool)]
        for path in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=4)):
            _at(doc, path[:-1])[path[-1]] = draw(st.one_of(
                st.sampled_from([0, 1, -1, 99, 100, 10_000, -10_000, 1_000_000, -1_000_000, 10**9, -10**9, 2**31]),
                st.integers(-10**9, 10**9), st.floats(-1e4, 1e4)))
        return name, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["set", "set", "set", "delete", "add", "nest"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "pionts", "when", "cap"]))] = draw(HOSTILE_VALUES)
        elif op == "nest":
            c = parent[path[-1]]
            for _ in range(draw(st.integers(1, 40))):
                c = {draw(st.sampled_from(["not", "all", "any"])): c}
                c = {k: [v] if k != "not" else v for k, v in c.items()}
            parent[path[-1]] = c
        else:
            parent[path[-1]] = draw(HOSTILE_VALUES)
    return name, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


SCORE_SECONDS = 10.0  # the engine's kernels are compiled on first use of a code path (numba)


def score_small(policy):
    return score(EVENTS, policy, AS_OF, np.arange(5, dtype=np.int64), households=np.array([0, 0, 1, 1, 2]))


@pytest.fixture(scope="module")
def engine_warm():
    """Score under every built-in policy once, so compiling the kernels is not inside a guard."""
    for name in builtin_names():
        score_small(parse_policy(TEXTS[name], name))


def parse_checked(text: str, origin: str) -> None:
    """Parse and lint within 2 s; a policy that validates must also score (what `run` does)."""
    try:
        with no_hang():
            policy = parse_policy(text, origin)
            lint(policy)
    except PolicyError as exc:
        one_line(str(exc), origin)
        event("refused: " + " ".join(str(exc).split(": ")[1:3])[:40])
        return
    with no_hang(SCORE_SECONDS):
        assert score_small(policy).ratings.height == 5
    event("valid, linted and scored")


@settings(FUZZ, max_examples=150)
@given(spec=mutated_policies())
def test_mutated_builtin_policies(engine_warm, spec):
    name, text = spec
    parse_checked(text, f"{name}-mutated.yaml")


@st.composite
def spliced_texts(draw):
    """The text of a built-in policy, cut, spliced and sprinkled with hostile characters."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    text = TEXTS[name]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 200)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "replace"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            ins = draw(st.one_of(st.text(max_size=8), st.sampled_from(
                ["&a", "*a", "&a [1]", "!!int x", "!!timestamp 2024-02-30", "\t", ": :", "{", "]", "- ", "\x00",
                 "\ufeff", "\u202e", "<<: *a", "? ", "%YAML 1.1\n---\n", "---\n", "...\n", "#"])))
            text = text[:i] + ins + (text[i:] if op == "insert" else text[j:])
    return name, text


@settings(FUZZ, max_examples=150)
@given(spec=spliced_texts())
def test_spliced_policy_text(engine_warm, spec):
    name, text = spec
    parse_checked(text, f"{name}-spliced.yaml")


@settings(FUZZ, max_examples=30)
@given(spec=st.one_of(mutated_policies(), spliced_texts()), how=st.sampled_from(["check", "lint"]))
def test_policy_commands_on_hostile_files(tmp_path, spec, how):
    _, text = spec
    f = tmp_path / "p.yaml"
    f.write_text(text, encoding="utf-8", errors="surrogatepass")
    with no_hang():
        res = CliRunner().invoke(app, ["policy", how, str(f)], env={"COLUMNS": "80"})
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code in (0, 1, 2), res.output  # lint: 1 = the policy has findings of severity error
    if res.exit_code == 2:
        assert res.output.count("\n") == 1 and res.output.startswith(f"error: {f}: "), res.output


# ---- the issue's cases in a real process: one stderr line, no traceback ---------------

def test_real_processes_print_one_line(tmp_path):
    from test_policy_errors import BAD

    bomb, deep = tmp_path / "bomb.yaml", tmp_path / "deep.yaml"
    bomb.write_text(BAD["bomb"][0])
    deep.write_text(BAD["deep3000"][0])
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"record_id,event_type,occurred_on,inn\nt\xe9,tax.arrears,2024-01-05,500100732259\n")
    cmd = [sys.executable, "-m", "socialrating.cli"]
    for args in (["policy", "check", str(bomb)], ["policy", "lint", str(deep)],
                 ["ingest", str(latin), "--source", "tax", "--into", str(tmp_path), "--as-of", "2025-06-01"]):
        res = subprocess.run(cmd + args, capture_output=True, text=True, timeout=120, env={"COLUMNS": "80", "PATH": ""})
        assert res.returncode == 2, res.stderr
        assert res.stdout == "" and res.stderr.count("\n") == 1 and res.stderr.startswith("error: "), res.stderr
