"""Fingerprint of everything a small set of runs writes and prints: the refactor guard.

Architecture work (issue #12, national scale) must change no output. This script builds
two small runs through the CLI (Synthetic Russia under we-platform with household
spillover; the basic world under rongcheng), then audits, reports, explains, contests,
resolves, compares and verifies them, and records the sha256 of every file written and of
every command's standard output. `tests/test_golden_outputs.py` compares against the
recorded fingerprint in `tests/golden/fingerprint.json`.

The operator's key is a fixed test key, so `manifest.sig` and `operator.pub` are covered
too (Ed25519 signatures are deterministic). Excluded, because they are not determined by
the inputs: `ledger.duckdb` (DuckDB's file layout; its content is covered by the
manifest's chain head), the store's entry segments `ledger.entries/` (covered by the same
head) and the empty `.lock` file.

    python scripts/golden.py            # print differences against the recorded file
    python scripts/golden.py --write    # record a deliberate change of output
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

RECORDED = Path(__file__).resolve().parent.parent / "tests" / "golden" / "fingerprint.json"
SKIP = {"ledger.duckdb", ".lock"}
SKIP_DIRS = {"ledger.entries"}  # the store's entry segments: covered by the store's heads, like ledger.duckdb
EXE = [sys.executable, "-m", "socialrating.cli"]


def _sh(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cli(args: list[str], work: Path, env: dict) -> str:
    proc = subprocess.run(EXE + args, cwd=work, env=env, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"socialrating {' '.join(args)} failed:\n{proc.stderr.decode()}")
    # the folder names are temporary: print them as their names in the fingerprint
    return proc.stdout.decode().replace(str(work), "<work>")


def _folder(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): _sh(p.read_bytes())
            for p in sorted(path.rglob("*"))
            if p.is_file() and p.name not in SKIP and ".txn" not in p.parts and not SKIP_DIRS & set(p.parts)}


def _fixed_key(d: Path) -> None:
    """A fixed operator key (a test key, never a real operator's)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d.mkdir(mode=0o700)
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    (d / "operator.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def fingerprint() -> dict[str, str]:
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="sr-golden-") as tmp:
        work = Path(tmp)
        _fixed_key(work / "key")
        env = dict(os.environ, COLUMNS="80", SOCIALRATING_KEY_DIR=str(work / "key"),
                   PYTHONHASHSEED="0")
        common = ["--people", "3000", "--years", "1.5", "--seed", "7"]
        steps = [
            ("run.we", ["run", *common, "--out", "we", "--household-spillover", "0.2"]),
            ("run.rc", ["run", *common, "--out", "rc", "--policy", "rongcheng",
                        "--world", "basic"]),
            ("run.cb", ["run", *common, "--out", "cb", "--policy", "court-blacklist"]),
            ("audit.we", ["audit", "we", "--json"]),
            ("audit.rc", ["audit", "rc"]),
            ("report.we", ["report", "we"]),
            ("calibration.we", ["calibration", "we"]),
            ("citizens.we", ["citizens", "we", "--wrongly"]),
            ("compare.we.cb", ["compare", "we", "cb", "--out", "cmp", "--json"]),
        ]
        for name, args in steps:
            out[f"stdout:{name}"] = _sh(_cli(args, work, env).encode())
        # one wrongly restricted citizen: explain, contest their first entry, resolve
        listing = _cli(["citizens", "we", "--wrongly", "--json"], work, env)
        ids = re.findall(r'"citizen_id":\s*(\d+)', listing)
        if ids:
            cid = ids[0]
            exp = _cli(["explain", "we", "--citizen", cid], work, env)
            out["stdout:explain"] = _sh(exp.encode())
            import polars as pl
            led = pl.read_parquet(work / "we" / "ledger.parquet")
            entries = [str(e) for e in led.filter(pl.col("citizen_id") == int(cid))
                       .sort("entry_id")["entry_id"].to_list()]
            if entries:
                out["stdout:contest"] = _sh(_cli(
                    ["contest", "we", "--citizen", cid, "--entry", entries[0],
                     "--reason", "not me", "--json"], work, env).encode())
                out["stdout:resolve"] = _sh(_cli(
                    ["resolve", "we", "--entry", entries[0], "--overturned",
                     "--reviewer", "R. Eviewer", "--reason", "namesake", "--json"],
                    work, env).encode())
                out["stdout:explain.after"] = _sh(_cli(
                    ["explain", "we", "--citizen", cid], work, env).encode())
        out["stdout:verify"] = _sh(_cli(["verify", "we"], work, env).encode())
        for folder in ("we", "rc", "cb", "cmp"):
            for rel, digest in _folder(work / folder).items():
                out[f"file:{folder}/{rel}"] = digest
    return out


def main() -> int:
    got = fingerprint()
    if "--write" in sys.argv:
        RECORDED.parent.mkdir(parents=True, exist_ok=True)
        RECORDED.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(got)} fingerprints in {RECORDED}")
        return 0
    want = json.loads(RECORDED.read_text())
    diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
    for k in diff:
        print(f"differs: {k}")
    print(f"{len(got)} fingerprints, {len(diff)} differ")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
