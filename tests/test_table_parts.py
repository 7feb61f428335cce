"""A run folder's table as one file or as parts (one per shard): read back as one table."""

from __future__ import annotations

import polars as pl
import pytest

from socialrating.store.runfolder import RunFolder, part_name


def _frame(lo: int, hi: int) -> pl.DataFrame:
    return pl.DataFrame({"citizen_id": pl.Series(range(lo, hi), dtype=pl.Int64),
                         "status": pl.Series([i % 100 for i in range(lo, hi)], dtype=pl.Int8)})


def test_single_file_and_parts_read_the_same(tmp_path):
    whole = _frame(0, 10)
    one = RunFolder(tmp_path / "one")
    one.path.mkdir()
    whole.write_parquet(one.path / "ratings.parquet")
    parts = RunFolder(tmp_path / "parts")
    for k, (lo, hi) in enumerate([(0, 3), (3, 3), (3, 10)]):  # an empty shard in the middle
        _frame(lo, hi).write_parquet(parts.part_path("ratings", k))
    assert [p.name for p in parts.table_files("ratings")] == ["part-00000.parquet", "part-00001.parquet",
                                                              "part-00002.parquet"]
    for run in (one, parts):
        assert run.has("ratings") and not run.has("wrongful")
        assert run.read("ratings").equals(whole)
        assert run.scan("ratings").filter(pl.col("citizen_id") >= 8).collect()["citizen_id"].to_list() == [8, 9]
        assert run.read("ratings", columns=["status"]).columns == ["status"]


def test_both_layouts_or_a_gap_are_refused(tmp_path):
    run = RunFolder(tmp_path)
    _frame(0, 2).write_parquet(run.part_path("ratings", 0))
    _frame(2, 4).write_parquet(run.part_path("ratings", 2))
    with pytest.raises(ValueError, match="without a gap"):
        run.table_files("ratings")
    _frame(0, 4).write_parquet(tmp_path / "ratings.parquet")
    with pytest.raises(ValueError, match="both ratings.parquet and ratings/"):
        run.read("ratings")


def test_part_names_sort_in_shard_order():
    assert part_name(0) == "part-00000.parquet" and part_name(99_999) == "part-99999.parquet"
    assert sorted(part_name(k) for k in (10, 9, 100)) == [part_name(9), part_name(10), part_name(100)]
    with pytest.raises(ValueError):
        part_name(100_000)
