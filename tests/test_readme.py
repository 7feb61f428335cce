"""The README's sample output is the output of `socialrating demo` (abridged by
scripts/readme_sample.py: the middle of the score table and the figures' definitions
left out). Runs the real demo (100,000 people, about 20-30 s)."""

from __future__ import annotations

from repo_scripts import ROOT, load_script


def _script():
    return load_script("scripts/readme_sample.py", "readme_sample")


def test_readme_sample_is_the_demo_output():
    rs = _script()
    sample = rs.abridge(rs.demo_output())
    block = rs.readme_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "people wrongly under any restriction: " in sample and "Report: runs/demo/report.html" in sample
    assert block == sample, "the README's sample is not the demo's output: run python scripts/readme_sample.py --write"


def test_abridge_keeps_figures_and_drops_definitions():
    rs = _script()
    text = "\n".join([
        "title line", "┏━━━┓", "│ 00-09 │ 1 │ 2 │", "│ 20-29 │ 3 │ 4 │", "│ 30-39 │ 5 │ 6 │", "│ 50-59 │ 7 │ 8 │",
        "└───┘", "status mean 1.0", "  A table", "┏━━━┓", "│ x │ 1 │", "└───┘", "ever: people under it in at",
        "least one month.", "people ever under any restriction: 1,234 (not settled: still rising (5% over the last 6 months))",
        "", "Report: r"])
    assert rs.abridge(text).splitlines() == [
        "title line", "┏━━━┓", "│ 00-09 │ 1 │ 2 │", " ...", "│ 50-59 │ 7 │ 8 │", "└───┘", "status mean 1.0",
        "  A table", "┏━━━┓", "│ x │ 1 │", "└───┘",
        "people ever under any restriction: 1,234 (not settled: still rising (5% over the last 6 months))", "", "Report: r"]
