"""The HTML report: renders from a run folder, loads nothing from the network, and every
chart draws in a real browser (headless Chromium; skipped locally without it, FAILS in CI).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest

from socialrating.audit.fixture import synthetic_run
from socialrating.report.html import write_report

SECTIONS = ("how", "headline", "distribution", "consequences", "groups", "wrongful", "mobility", "policy", "lint", "run")


class _Refs(HTMLParser):
    """Every attribute that makes a browser fetch something."""

    FETCH = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src"),
             ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data"), ("image", "href")}

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[tuple[str, str]] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts += 1
        for k, v in attrs:
            if (tag, k) in self.FETCH and v:
                self.fetches.append((tag, v))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    run = synthetic_run(tmp_path_factory.mktemp("rep") / "run", people=1500, months=12, seed=5)
    return write_report(run, replicates=100)


def test_report_renders(report):
    assert report.name == "report.html" and report.exists()
    text = report.read_text(encoding="utf-8")
    for s in SECTIONS:
        assert f'<section id="{s}">' in text
    for phrase in ("How to read this report", "four-fifths", "people wrongly restricted", "Kaplan-Meier",
                   "Simulation on synthetic data", "fz-229-art67", "Run manifest", "Record linkage"):
        assert phrase in text, phrase
    assert text.count('class="plotly-graph-div"') >= 10
    assert (report.parent / "audit.json").exists()


def test_report_is_offline(report):
    text = report.read_text(encoding="utf-8")
    p = _Refs()
    p.feed(text)
    external = [(t, v) for t, v in p.fetches if not v.startswith(("data:", "#"))]
    assert external == [], external
    assert not re.search(r"@import|url\(\s*['\"]?https?:", text.split("<script>", 1)[0])
    assert "cdn.plot.ly/plotly" not in text.split("</head>")[1]
    assert "Plotly.newPlot" in text and "window.Plotly" in text  # plotly.js is inline


def test_report_without_optional_inputs(tmp_path):
    run = synthetic_run(tmp_path / "run", people=400, months=6, seed=2)
    (run / "wrongful.parquet").unlink()
    (run / "linkage.json").unlink()
    m = (run / "manifest.json").read_text().replace('"lint"', '"lint_absent"')
    (run / "manifest.json").write_text(m)
    c = pl.read_parquet(run / "consequences.parquet")
    c.filter(pl.col("scenario") == "actual").write_parquet(run / "consequences.parquet")
    text = write_report(run, replicates=20).read_text(encoding="utf-8")
    assert "no wrongful.parquet" in text and "carries no linter findings" in text
    assert "scenario, so those lines" in text


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
        if path:
            return path
    return None


def test_every_chart_draws_in_chromium(report, tmp_path):
    exe = _chromium()
    if exe is None:
        msg = "headless Chromium not found (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--host-resolver-rules=MAP * ~NOTFOUND",  # any network request would fail
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", "--dump-dom",
           report.resolve().as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    dom = out.stdout
    assert out.returncode == 0 and "</html>" in dom, out.stderr[-2000:]
    starts = [(m.start(), m.group(1)) for m in re.finditer(r'<div id="(chart-[^"]+)" class="plotly-graph-div', dom)]
    assert len(starts) >= 10
    undrawn = []
    for i, (pos, div_id) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(dom)
        if 'class="main-svg"' not in dom[pos:end]:
            undrawn.append(div_id)
    assert undrawn == [], f"charts that did not draw: {undrawn}"
