"""Tamper suite: alter every file of a run folder and its ledger store, in many ways
(including full rebuilds of store and manifest with the project's own classes), and check
that `verify` catches each, naming what was altered, and that no command extends it."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import integrity_fixture as fx
from store_tamper import edit_entries
from socialrating.cli import app
from socialrating.store import seal as sealing
from socialrating.store.contest import ContestError, contest, verify_run
from socialrating.store.ledger_store import LedgerStore, block_digest, canonical_change, change_hash


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return fx.build(tmp_path_factory.mktemp("tamper"))


# ---------------------------------------------------------------- ways to tamper


def _edit_parquet(rel, fn):
    def go(d: Path):
        p = d / rel
        fn(pl.read_parquet(p)).write_parquet(p)
    return go


def _flip_penalty(df):  # the case: an entry from -N to +N
    i = df["points"].arg_min()
    return df.with_columns(pl.when(pl.int_range(pl.len()) == i).then(-pl.col("points")).otherwise(pl.col("points"))
                           .alias("points"))


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def _write_manifest_signed_by(d: Path, m: dict, key) -> None:
    """What an intruder with their own key does: re-hash the files, re-sign, replace the key."""
    m = dict(m)
    m["files"] = sealing.file_hashes(d)
    data = sealing.manifest_bytes(m)
    (d / "manifest.json").write_bytes(data)
    (d / "manifest.sig").write_text(key.sign(data).hex() + "\n")
    (d / "operator.pub").write_bytes(sealing.public_pem(key))


def _resign_as_operator(d: Path, m: dict) -> None:
    """What the operator (who holds the key) could do: seal a rebuilt folder again."""
    parts = sealing.seal({k: v for k, v in m.items() if k not in ("files", "head")}, d)
    for name, data in parts.items():
        (d / name).write_bytes(data)


def _rebuild_store(d: Path, ledger: pl.DataFrame) -> str:
    """Delete the store and build it again with the project's LedgerStore from `ledger`
    (the original changes replayed); returns the new ledger head."""
    with LedgerStore.open(d) as s:
        ch = s.changes().select("entry_id", "new_state", "actor", "reason", "at")
    (d / "ledger.duckdb").unlink()
    with LedgerStore.open(d) as s:
        s.append_entries(ledger)
        s.record_changes(ch.filter(pl.col("actor").str.contains("simulated")))
        for r in ch.filter(~pl.col("actor").str.contains("simulated")).iter_rows(named=True):
            s.record_change(r["entry_id"], r["new_state"], r["actor"], r["reason"], r["at"])
        return s.head()


def _store_ledger(d: Path) -> pl.DataFrame:
    with LedgerStore.open(d) as s:
        return s.entries()


def rebuilt_store_only(d):
    _rebuild_store(d, _flip_penalty(_store_ledger(d)))


def rebuilt_store_and_manifest_head(d):
    head = _rebuild_store(d, _flip_penalty(_store_ledger(d)))
    m = _manifest(d)
    m["ledger_store"]["head"] = head
    (d / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")


def rebuilt_everything_with_own_key(d):
    led = _flip_penalty(pl.read_parquet(d / "ledger.parquet"))
    led.write_parquet(d / "ledger.parquet")
    head = _rebuild_store(d, _flip_penalty(_store_ledger(d)))
    m = _manifest(d)
    m["ledger_store"]["head"] = head
    m["head"] = sealing.combined_head(head, m["changes"]["head"])
    _write_manifest_signed_by(d, m, Ed25519PrivateKey.generate())


def rebuilt_by_sql_rehash(d):
    """Change an entry and recompute its row hash and every block digest in SQL, then the
    manifest head, then sign with another key."""
    with LedgerStore.open(d) as s:
        db = s._db
        eid = db.fetchall("SELECT entry_id FROM ledger_entries WHERE points < 0 ORDER BY entry_id LIMIT 1")[0][0]
        edit_entries(s, f"UPDATE ledger_entries SET points = -points WHERE entry_id = {eid}")
        edit_entries(s, f"UPDATE ledger_entries SET row_tag = {db.tag_sql(db.row_hash_sql())} WHERE entry_id = {eid}")
        prev = "0" * 64
        for b, hashes in db.fetchall(f"SELECT block_no, string_agg({db.row_hash_sql()}, '' ORDER BY entry_id) "
                                     "FROM ledger_entries GROUP BY block_no ORDER BY block_no"):
            dig = block_digest(prev, hashes)
            db.execute("UPDATE ledger_blocks SET prev_digest = ?, digest = ? WHERE block_no = ?", [prev, dig, b])
            prev = dig
        head = s.head()
    m = _manifest(d)
    m["ledger_store"]["head"] = head
    _write_manifest_signed_by(d, m, Ed25519PrivateKey.generate())


def forged_overturn_pair(d):
    """A contested + overturned pair with valid chained hashes appended to the store."""
    with LedgerStore.open(d) as s:
        eid = int(s.entries().filter(pl.col("points") < 0)["entry_id"][-1])
        at = s.changes()["at"].max()
        tip = s.changes().tail(1)
        cid, prev = int(tip["change_id"][0]) + 1, tip["hash"][0]
        for st in ("contested", "overturned"):
            h = change_hash(prev, canonical_change(cid, eid, st, "x", "forged", at))
            s._db.execute("INSERT INTO ledger_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [cid, eid, st, "x", "forged", at, prev, h])
            cid, prev = cid + 1, h


def forged_pair_and_manifest(d):
    forged_overturn_pair(d)
    with LedgerStore.open(d) as s:
        ch = s.changes()
    m = _manifest(d)
    m["changes"].update(count=ch.height, head=ch["hash"][-1])
    _write_manifest_signed_by(d, m, Ed25519PrivateKey.generate())


def store_update_points(d):
    with LedgerStore.open(d) as s:
        edit_entries(s, "UPDATE ledger_entries SET points = 100 WHERE entry_id = "
                      "(SELECT min(entry_id) FROM ledger_entries WHERE points < 0)")


def store_delete_change(d):
    with LedgerStore.open(d) as s:
        s._db.execute("DELETE FROM ledger_changes WHERE change_id = (SELECT max(change_id) FROM ledger_changes)")


def store_delete_entries(d):
    with LedgerStore.open(d) as s:
        edit_entries(s, "DELETE FROM ledger_entries WHERE entry_id IN "
                      "(SELECT entry_id FROM ledger_entries ORDER BY entry_id DESC LIMIT 3)")


def store_emptied(d):
    (d / "ledger.duckdb").unlink()
    LedgerStore.open(d).close()


def manifest_counts(d):
    m = _manifest(d)
    m["counts"]["accepted"] += 1000
    (d / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")


def sig_removed(d):
    (d / "manifest.sig").unlink()


def sig_corrupted(d):
    sig = (d / "manifest.sig").read_text().strip()
    (d / "manifest.sig").write_text(("0" if sig[0] != "0" else "1") + sig[1:] + "\n")


def pub_swapped(d):
    _write_manifest_signed_by(d, _manifest(d), Ed25519PrivateKey.generate())


def policy_edited(d):
    p = d / "policy.yaml"
    p.write_text(p.read_text().replace("points: -100", "points: -1"))


def policy_edited_and_resealed_by_intruder(d):
    policy_edited(d)
    from socialrating.policy.load import parse_policy, policy_hash

    m = _manifest(d)
    m["policy"]["sha256"] = policy_hash(parse_policy((d / "policy.yaml").read_text()))
    _write_manifest_signed_by(d, m, Ed25519PrivateKey.generate())


def file_added(d):
    (d / "extra.parquet").write_bytes(b"PAR1")


def file_deleted(d):
    (d / "wrongful.parquet").unlink()


def file_truncated(d):
    p = d / "events.parquet"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def linkage_json_edited(d):
    p = d / "linkage.json"
    p.write_text(p.read_text().replace("0.", "1.", 1))


CASES = {
    "ledger.parquet: -N -> +N": (_edit_parquet("ledger.parquet", _flip_penalty), "file:ledger.parquet"),
    "current_ratings.parquet": (_edit_parquet("current_ratings.parquet",
                                              lambda df: df.with_columns(pl.col("status") + 1)), "file:current_ratings.parquet"),
    "events.parquet amount": (_edit_parquet("events.parquet", lambda df: df.with_columns(pl.col("amount") * 2)),
                              "file:events.parquet"),
    "events.parquet truncated": (file_truncated, "file:events.parquet"),
    "citizens.parquet row dropped": (_edit_parquet("citizens.parquet", lambda df: df.slice(1)), "file:citizens.parquet"),
    "ratings.parquet": (_edit_parquet("ratings.parquet", lambda df: df.with_columns(pl.col("level") // 2)),
                        "file:ratings.parquet"),
    "consequences.parquet": (_edit_parquet("consequences.parquet", lambda df: df.slice(1)), "file:consequences.parquet"),
    "current_consequences.parquet": (_edit_parquet("current_consequences.parquet", lambda df: df.slice(1)),
                                     "file:current_consequences.parquet"),
    "wrongful.parquet deleted": (file_deleted, "file:wrongful.parquet"),
    "truth.parquet": (_edit_parquet("truth.parquet", lambda df: df.slice(2)), "file:truth.parquet"),
    "quarantine.parquet row added": (_edit_parquet("quarantine.parquet", lambda df: pl.concat(
        [df, pl.DataFrame({c: [None] for c in df.columns}, schema=df.schema)])), "file:quarantine.parquet"),
    "linkage.json": (linkage_json_edited, "file:linkage.json"),
    "ingested/bailiffs.parquet": (_edit_parquet("ingested/bailiffs.parquet", lambda df: df.slice(1)),
                                  "file:ingested/bailiffs.parquet"),
    "ingested/events.parquet": (_edit_parquet("ingested/events.parquet",
                                              lambda df: df.with_columns(pl.col("amount") + 1)), "file:ingested/events.parquet"),
    "a file added": (file_added, "file:extra.parquet"),
    "policy.yaml edited": (policy_edited, "file:policy.yaml"),
    "policy.yaml edited, manifest re-signed by another key": (policy_edited_and_resealed_by_intruder, "manifest"),
    "manifest counts edited": (manifest_counts, "manifest"),
    "manifest.sig removed": (sig_removed, "manifest"),
    "manifest.sig corrupted": (sig_corrupted, "manifest"),
    "operator.pub swapped, manifest re-signed": (pub_swapped, "manifest"),
    "store: entry points updated": (store_update_points, "entry:"),
    "store: last change deleted": (store_delete_change, "change:"),
    "store: entries deleted": (store_delete_entries, "block:"),
    "store: emptied": (store_emptied, "head"),
    "store: ledger.duckdb deleted": (lambda d: (d / "ledger.duckdb").unlink(), "store"),
    "store: forged contested+overturned pair": (forged_overturn_pair, "change:"),
    "store: forged pair + manifest re-signed": (forged_pair_and_manifest, "manifest"),
    "store: rebuilt with LedgerStore": (rebuilt_store_only, "head"),
    "store rebuilt + manifest head edited": (rebuilt_store_and_manifest_head, "manifest"),
    "store, ledger.parquet and manifest rebuilt, signed by another key": (rebuilt_everything_with_own_key, "manifest"),
    "store re-hashed in SQL + manifest re-signed": (rebuilt_by_sql_rehash, "manifest"),
}


def test_untouched_copy_verifies(base, tmp_path):
    d = fx.copy(base["run"], tmp_path / "ok")
    v = verify_run(d)
    assert v["ok"], v["problems"]
    assert v["files"] == 15 and v["key_trusted"] is True
    assert verify_run(d, head=base["head0"])["ok"]  # the head published right after the run


@pytest.mark.parametrize("case", list(CASES))
def test_tamper_is_caught(base, tmp_path, case):
    d = fx.copy(base["run"], tmp_path / "t")
    alter, first = CASES[case]
    alter(d)
    v = verify_run(d)
    assert not v["ok"], case
    assert v["first_bad"].startswith(first), (case, v["problems"])
    res = CliRunner().invoke(app, ["verify", str(d)])
    assert res.exit_code == 1 and "ALTERED" in res.output and "Traceback" not in res.output
    cid, eid, _ = fx.negative_entry(base["run"])  # an active entry (the contested one is not)
    with pytest.raises(ContestError, match="fails verification"):  # nothing extends an altered record
        contest(d, cid, eid, "x")


def test_operator_rebuild_is_caught_by_the_published_head(base, tmp_path):
    """Whoever holds the key can rebuild store and manifest consistently; a head
    published before (outside the folder) still exposes it."""
    d = fx.copy(base["run"], tmp_path / "op")
    published = verify_run(d)["head"]
    _edit_parquet("ledger.parquet", _flip_penalty)(d)
    head = _rebuild_store(d, _flip_penalty(_store_ledger(d)))
    m = _manifest(d)
    m["ledger_store"]["head"] = head
    _resign_as_operator(d, m)
    assert verify_run(d)["ok"]  # consistent, signed by the real key ...
    v = verify_run(d, head=published)  # ... but not the chain that was published
    assert not v["ok"] and v["first_bad"] == "published-head"
    res = CliRunner().invoke(app, ["verify", str(d), "--head", published])
    assert res.exit_code == 1 and "published-head" in res.output


def test_published_head_survives_later_contests(base, tmp_path):
    d = fx.copy(base["run"], tmp_path / "grow")
    before = verify_run(d)["head"]
    cid, eid, _ = fx.negative_entry(d)
    contest(d, cid, eid, "another")
    assert verify_run(d)["head"] != before
    assert verify_run(d, head=before)["ok"]
    assert verify_run(d, head=base["head0"])["ok"]
    assert not verify_run(d, head="ab" * 32)["ok"]


def test_an_untrusted_key_fails_unless_given(base, tmp_path):
    d = fx.copy(base["run"], tmp_path / "k")
    other = Ed25519PrivateKey.generate()
    v = verify_run(d, key_pem=sealing.public_pem(other))
    assert not v["ok"] and v["first_bad"] == "manifest" and "not by the trusted operator key" in v["detail"]
    assert verify_run(d, key_pem=(d / "operator.pub").read_bytes())["ok"]


def test_policy_edit_is_named_twice(base, tmp_path):
    d = fx.copy(base["run"], tmp_path / "p")
    policy_edited(d)
    v = verify_run(d)
    assert v["problems"][0].startswith("file:policy.yaml")
    assert any(p.startswith("policy:") and "commands re-score only under the policy the run used" in p
               for p in v["problems"])


def test_operator_key_made_once_owner_only(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIALRATING_KEY_DIR", str(tmp_path / "keys"))
    assert sealing.local_public_pem() is None  # verify never makes a key
    k1 = sealing.public_pem(sealing.operator_key())
    assert (tmp_path / "keys" / "operator.key").stat().st_mode & 0o777 == 0o600
    assert sealing.public_pem(sealing.operator_key()) == k1 == sealing.local_public_pem()


def test_processes_starting_at_once_share_one_key(tmp_path, monkeypatch):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    monkeypatch.setenv("SOCIALRATING_KEY_DIR", str(tmp_path / "keys"))
    with ProcessPoolExecutor(6, mp_context=mp.get_context("spawn")) as ex:
        keys = set(ex.map(fx.operator_public_key, range(12)))
    assert len(keys) == 1 and [p.name for p in (tmp_path / "keys").iterdir()] == ["operator.key"]


def test_suite_size():
    assert len(CASES) >= 20
