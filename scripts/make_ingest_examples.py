"""Write examples/ingest/<source>.csv: a few records per source for the demo's people.

Each file is in the source's documented schema (`socialrating ingest --schema SOURCE`),
with identifiers formatted as agencies print them and names as Cyrillic text, for
citizens of the demo run folder (seed 20240701, 100,000 people), so that

    socialrating ingest examples/ingest/tax.csv --source tax --into runs/demo

links every row. Run after anything that changes the demo's population:

    python scripts/make_ingest_examples.py runs/demo
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from socialrating.identity.inn import format_inn
from socialrating.identity.names import given_name_labels, patronymic_labels, surname_labels
from socialrating.identity.passport import format_passport
from socialrating.identity.phone import format_phone
from socialrating.identity.snils import format_snils
from socialrating.policy.catalog import CATALOG
from socialrating.sources.schemas import SCHEMAS

ROWS = 4
FORMAT = {"snils": format_snils, "inn": format_inn, "passport": format_passport, "phone": format_phone}
EXTRA = {"camera": lambda i: "true" if i % 2 else "false", "vehicle_plate": lambda i: f"А{100 + i}ВС77",
         "proceeding_id": lambda i: f"{1000 + i}/25/77001-ИП", "account": lambda i: f"LS-{700000 + i}"}
UNITS = {"roubles": [1_500.0, 45_000.0, 3_200.0, 80_000.0], "hours": [12.0, 4.0, 20.0, 6.0]}


def _people(run: Path, source: str) -> pl.DataFrame:
    """Adults holding every identifier the source keys by, the first few by citizen_id."""
    p = pl.read_parquet(run / "citizens.parquet").filter(pl.col("age") >= 18)
    for key in SCHEMAS[source].keys:
        if key in FORMAT:
            p = p.filter(pl.col(key).is_not_null())
    step = max(1, p.height // 997)  # spread over the population, deterministically
    return p.gather_every(step).head(ROWS)


def example(run: Path, source: str) -> pl.DataFrame:
    s = SCHEMAS[source]
    p = _people(run, source)
    types = [e for e in CATALOG if e.source == source]
    fem = (p["sex"].cast(pl.String) == "F").to_numpy()
    names = {"surname": surname_labels(p["surname"].to_numpy(), fem),
             "given_name": given_name_labels(p["given_name"].to_numpy(), fem),
             "patronymic": patronymic_labels(p["patronymic"].to_numpy(), fem)}
    cols: dict[str, list] = {"record_id": [f"EX-{source.upper()}-{i + 1:04d}" for i in range(p.height)]}
    cols["event_type"] = [types[i % len(types)].name for i in range(p.height)]
    cols["occurred_on"] = [f"2025-0{3 + i}-1{i}" for i in range(p.height)]
    cols["reported_on"] = [f"2025-0{3 + i}-2{i}" for i in range(p.height)]
    cols["amount"] = [UNITS[types[i % len(types)].unit][i] if types[i % len(types)].unit in UNITS else None
                      for i in range(p.height)]
    for key in s.keys:
        if key in FORMAT:
            cols[key] = list(FORMAT[key](p[key].to_numpy()))
        elif key == "birth_date":
            cols[key] = [d.isoformat() for d in p["birth_date"]]
        else:
            cols[key] = [str(v) for v in names[key]]
    for col in s.extra:
        cols[col] = [EXTRA[col](i) for i in range(p.height)]
    return pl.DataFrame(cols, schema={c: (pl.Float64 if c == "amount" else pl.String) for c in cols})


def main(run: str = "runs/demo", out: str = "examples/ingest") -> None:
    run_dir, out_dir = Path(run), Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for source in SCHEMAS:
        frame = example(run_dir, source)
        frame.write_csv(out_dir / f"{source}.csv")
        print(f"{out_dir / (source + '.csv')}: {frame.height} records")


if __name__ == "__main__":
    main(*sys.argv[1:])
