"""benchmarks/national.py times the phases it names, in pipeline order, and the stages inside
the shards (side by side or not), and the bytes it attributes add up to the run folder."""

from __future__ import annotations

from repo_scripts import load_script


def _bench():
    return load_script("benchmarks/national.py", "national_bench")


def test_phases_in_order_parts_timed_and_bytes_add_up(tmp_path):
    bench = _bench()
    from socialrating.simulate import runner as rn
    from socialrating.simulate import shardworld as sh
    from socialrating.simulate import synthetic_world as sw
    from socialrating.sources import link as ln

    def pipeline():
        return (sh.write_citizens, sh.score, sh.run_shards, sh.ShardWorld.build, sh.ShardWorld.run,
                sh.ShardWorld.finish, rn.MonthlyEngine, sw.national_register, sw.block_records, ln.link_sources)

    before = pipeline()
    phases = ["population", bench.BUILDS, bench.MONTHS, bench.OUTPUTS]
    # one shard; three built and run two at a time (the pool's threads); three one after the other
    for shards, block_size, threads in ((1, None, 2), (3, 1024, 2), (3, 1024, 1)):
        out = tmp_path / f"run-{shards}-{threads}"
        stages, within, manifest, steps = bench.run(3_000, 0.25, out, threads=threads, shards=shards,
                                                    block_size=block_size)
        names = [r[0] for r in stages.rows]
        assert [n.split(" ")[0] for n in names[:1]] + names[1:] == phases
        # every scenario's month is a step, but no_feedback's first, a fork of actual's (runner.same_month)
        assert manifest["months"] == 3 and len(steps) == (3 * len(manifest["scenarios"]) - 1) * shards
        assert all(sec >= 0 for _, sec, _, _ in stages.rows)
        # every part was timed, inside the builds and the finishes that hold them
        w = within.seconds
        for part in (bench.REGISTER, bench.RECORDS, bench.LINKAGE, bench.STEPPING, bench.SCORE):
            assert w[part] > 0, part
        assert w["_build"] >= w[bench.REGISTER] + w[bench.RECORDS] + w[bench.LINKAGE]
        assert w["_finish"] >= w[bench.SCORE]
        written = sum(r[3] for r in stages.rows)
        assert written == bench.folder_bytes(out) > 0
        # the folder at its largest is at least what it holds at the end
        assert stages.disk_peak - stages.start_bytes >= written
        # the pipeline's functions are restored afterwards
        assert before == pipeline()


def test_folder_bytes_counts_files_and_takes_what_vanishes_as_gone(tmp_path, monkeypatch):
    import os

    bench = _bench()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x.bin").write_bytes(b"1" * 10)
    (tmp_path / "a" / "b" / "y.bin").write_bytes(b"2" * 7)
    assert bench.folder_bytes(tmp_path) == 17 and bench.folder_bytes(tmp_path / "none") == 0
    real = os.stat

    def vanishing(p, *a, **k):  # y.bin deleted between the listing and its stat
        if str(p).endswith("y.bin"):
            raise FileNotFoundError(p)
        return real(p, *a, **k)

    monkeypatch.setattr(bench.os, "stat", vanishing)
    assert bench.folder_bytes(tmp_path) == 10


def test_the_sample_runs_chosen_shards_of_the_whole_population(tmp_path, capsys):
    """benchmarks/national_sample.py: the whole population's citizens and register, a few
    shards spread over it run as a run runs them, and the report's figures from them."""
    bench = load_script("benchmarks/national_sample.py", "national_sample_bench")
    assert bench.chosen_shards(1114, 16)[:3] == [0, 74, 148] and bench.chosen_shards(1114, 16)[-1] == 1113
    assert bench.chosen_shards(5, 1) == [0] and bench.chosen_shards(3, 8) == [0, 1, 2]
    assert bench.chosen_shards(10, 4) == [0, 3, 6, 9]
    from socialrating import parallel

    out = tmp_path / "sample"
    with parallel.threads(2):
        stages, within, steps, s = bench.run_sample(4_000, 4, 2, out, years=0.25, block_size=1024)
    assert s["shards"] == 4 and s["picked"] == [0, 3]
    assert [r[0].split(" ")[0] for r in stages.rows] == ["population", "shard", "shard", "store:"]
    # the whole population was written, a part a shard; only the sampled shards' other parts
    assert len(list((out / "citizens").glob("*.parquet"))) == 4
    assert sorted(p.name for p in (out / "ratings").glob("*.parquet")) == ["part-00000.parquet", "part-00003.parquet"]
    people = sum(__import__("polars").read_parquet(p).height for p in (out / "ratings").glob("*.parquet")) // 3
    assert people == s["sampled_people"] > 0
    lk = s["linkage"]
    assert lk["records_in"] == lk["records_linked"] + lk["records_quarantined"] > 0
    assert s["register"][0] > 0 and not (out / "_work").exists()
    bench.report(stages, within, steps, s, 4_000)
    text = capsys.readouterr().out
    assert "EXTRAPOLATION (not a measurement)" in text and "sampled 2 shards" in text
