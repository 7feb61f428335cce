"""How a run's tables are written (store/runfolder.py: write_table, TableWriter): integer
columns as deltas, the rest dictionary-encoded where it pays, and every table read back
equal, by polars and by DuckDB."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import polars as pl
import pyarrow.parquet as pq

from socialrating.store.runfolder import TableWriter, parquet_options, write_table


def frame(n: int = 5_000) -> pl.DataFrame:
    return pl.DataFrame({
        "citizen_id": pl.int_range(n, eager=True, dtype=pl.Int64),
        "month": [dt.date(2024, 7, 31)] * n,
        "balance": pl.Series([(i * 37) % 101 - 50 for i in range(n)], dtype=pl.Int32),
        "status": pl.Series([i % 100 for i in range(n)], dtype=pl.Int8),
        "kind": pl.Series(["privilege", "restriction"] * (n // 2), dtype=pl.Enum(["privilege", "restriction"])),
        "record_id": [None if i % 7 == 0 else f"BNK-{i:012d}" for i in range(n)],
        "via": pl.Series([None if i % 3 else i for i in range(n)], dtype=pl.Int64),
    })


def encodings(path) -> dict[str, set[str]]:
    md = pq.ParquetFile(path).metadata
    out: dict[str, set[str]] = {}
    for g in range(md.num_row_groups):
        for c in range(md.num_columns):
            col = md.row_group(g).column(c)
            out.setdefault(col.path_in_schema, set()).update(col.encodings)
    return out


def test_integers_are_deltas_and_the_rest_keeps_dictionaries(tmp_path):
    df = frame()
    opts = parquet_options(df.to_arrow().schema)
    assert opts["column_encoding"] == {"citizen_id": "DELTA_BINARY_PACKED", "balance": "DELTA_BINARY_PACKED",
                                       "via": "DELTA_BINARY_PACKED", "record_id": "DELTA_BYTE_ARRAY"}
    assert opts["use_dictionary"] == ["month", "status", "kind"] and opts["compression"] == "zstd"
    write_table(df, tmp_path / "t.parquet")
    enc = encodings(tmp_path / "t.parquet")
    for c in ("citizen_id", "balance", "via"):
        assert "DELTA_BINARY_PACKED" in enc[c] and not enc[c] & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}, (c, enc[c])
    assert "DELTA_BYTE_ARRAY" in enc["record_id"] and not enc["record_id"] & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    assert "RLE_DICTIONARY" in enc["kind"]


def test_record_ids_are_prefix_coded_only_when_they_are_strings():
    """A record_id column of another type (an ingested file may carry numbers) keeps the
    defaults: DELTA_BYTE_ARRAY is for byte arrays."""
    import pyarrow as pa

    for t in (pa.string(), pa.large_string()):
        assert parquet_options(pa.schema([("record_id", t)]))["column_encoding"] == {"record_id": "DELTA_BYTE_ARRAY"}
    opts = parquet_options(pa.schema([("record_id", pa.int64()), ("x", pa.string())]))
    assert opts["column_encoding"] == {"record_id": "DELTA_BINARY_PACKED"} and opts["use_dictionary"] == ["x"]


def test_written_tables_read_back_equal_in_polars_and_duckdb(tmp_path):
    df = frame()
    write_table(df, tmp_path / "one.parquet")
    w = TableWriter(tmp_path / "streamed.parquet")
    for part in (df.slice(0, 1_000), df.slice(1_000, 3_000), df.slice(4_000)):
        w.write(part)
    w.close()
    for name in ("one", "streamed"):
        back = pl.read_parquet(tmp_path / f"{name}.parquet")
        assert back.schema == df.schema and back.equals(df), name
        n, s = duckdb.sql(f"SELECT count(*), sum(citizen_id) + sum(via) FROM '{tmp_path / name}.parquet'").fetchall()[0]
        assert (n, s) == (df.height, df["citizen_id"].sum() + df["via"].sum())
        ids = duckdb.sql(f"SELECT record_id FROM '{tmp_path / name}.parquet'").pl()["record_id"]
        assert ids.equals(df["record_id"])
    assert "DELTA_BINARY_PACKED" in encodings(tmp_path / "streamed.parquet")["citizen_id"]


def test_repeated_ascending_ids_take_a_fraction_of_plain_values(tmp_path):
    """What the deltas are for: a ratings panel repeats the same ascending ids every month."""
    ids = pl.int_range(200_000, eager=True, dtype=pl.Int64)
    panel = pl.DataFrame({"citizen_id": pl.concat([ids] * 6)})
    write_table(panel, tmp_path / "delta.parquet")
    panel.write_parquet(tmp_path / "polars.parquet", compression="zstd")
    small = pq.ParquetFile(tmp_path / "delta.parquet").metadata.row_group(0).column(0).total_compressed_size
    big = pq.ParquetFile(tmp_path / "polars.parquet").metadata.row_group(0).column(0).total_compressed_size
    assert small * 5 < big, (small, big)


def test_min_max_are_written_for_every_column_but_free_text(tmp_path):
    """Row groups' statistics let DuckDB and polars skip row groups on ids, dates and codes;
    on free text (random record ids) they skip nothing and cost a sixth of the writing."""
    df = frame().with_columns(note=pl.lit("x"))
    write_table(df, tmp_path / "t.parquet")
    md = pq.ParquetFile(tmp_path / "t.parquet").metadata
    has = {md.row_group(0).column(c).path_in_schema: md.row_group(0).column(c).is_stats_set
           for c in range(md.num_columns)}
    assert has == {"citizen_id": True, "month": True, "balance": True, "status": True, "kind": True,
                   "record_id": False, "via": True, "note": False}
    lo = md.row_group(0).column(0).statistics
    assert (lo.min, lo.max) == (0, 4_999)
    # and a filter on a text column still finds its rows (read, not skipped)
    got = duckdb.connect().execute(f"SELECT count(*) FROM '{tmp_path / 't.parquet'}' WHERE record_id = 'BNK-000000000008'").fetchone()
    assert got == (1,)


def test_floats_are_split_into_byte_streams_and_read_back_exactly(tmp_path):
    amounts = pl.Series("amount", [None if i % 5 == 0 else round(1000 * 1.37 ** (i % 40), 2) for i in range(4_000)])
    df = frame(4_000).with_columns(amounts, share=pl.Series([i / 7 for i in range(4_000)], dtype=pl.Float32))
    opts = parquet_options(df.to_arrow().schema)
    assert opts["column_encoding"]["amount"] == opts["column_encoding"]["share"] == "BYTE_STREAM_SPLIT"
    assert "amount" not in opts["use_dictionary"] and "share" not in opts["use_dictionary"]
    write_table(df, tmp_path / "f.parquet")
    enc = encodings(tmp_path / "f.parquet")
    assert "BYTE_STREAM_SPLIT" in enc["amount"] and "BYTE_STREAM_SPLIT" in enc["share"]
    assert pl.read_parquet(tmp_path / "f.parquet").equals(df)
    got = duckdb.connect().execute(f"SELECT sum(amount), count(amount), sum(share) FROM '{tmp_path / 'f.parquet'}'").fetchone()
    assert got[0] == pytest.approx(df["amount"].sum()) and got[1] == 3_200
    assert got[2] == pytest.approx(float(df["share"].sum()), rel=1e-6)
