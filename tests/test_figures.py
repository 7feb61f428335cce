"""One definition per figure: the run summary, `audit --json` and the report show the same
value for every figure they share (one small simulation through the command line)."""

from __future__ import annotations

import html
import json
import re

import pytest
from typer.testing import CliRunner

from socialrating.audit.figures import FIGURES, label
from socialrating.cli import app
from socialrating.report.summary import ERRORS, HEADLINE, STANDING


def cli(*args, code: int = 0):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fig") / "run"
    summary = cli("run", "--people", 3000, "--years", 1, "--seed", 11, "--world", "synthetic", "--out", out,
                  "--no-store").stdout
    doc = json.loads(cli("audit", out, "--json").stdout)
    cli("report", out)
    return out, summary, doc, (out / "report.html").read_text(encoding="utf-8")


def _int(text: str) -> int | None:
    text = text.strip()
    return None if text in ("–", "") else int(text.replace(",", ""))


def summary_values(text: str) -> dict[tuple[str, str], int | None]:
    """(consequence, figure) -> value, from the two tables and the headline lines the summary prints."""
    out: dict[tuple[str, str], int | None] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")] if line.startswith("│") else []
        for names in (STANDING, ERRORS):
            if len(cells) == 1 + len(names) and cells[0]:
                for n, c in zip(names, cells[1:]):
                    key = (cells[0], n)
                    assert out.get(key, _int(c)) == _int(c), key  # 'ever' is in both tables: the same
                    out[key] = _int(c)
    for n in HEADLINE:
        m = re.search(rf"^{re.escape(label(n, 'any-restriction'))}: ([\d,–]+)$", text, re.M)
        if m:
            assert out[("any-restriction", n)] == _int(m.group(1)), n
    return out


def report_values(page: str) -> dict[tuple[str, str], int | None]:
    """(consequence, figure) -> value, from the report's figures table and headline cards."""
    sec = re.search(r'<section id="figures">(.*?)</section>', page, re.S).group(1)
    out: dict[tuple[str, str], int | None] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", sec, re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if cells:
            assert len(cells) == 1 + len(FIGURES)
            out.update({(cells[0], f.name): _int(c) for f, c in zip(FIGURES, cells[1:])})
    for fid, value in re.findall(r'data-figure="([^"]+)"><div class="v">([^<]*)</div>', page):
        cid, name = fid.split(":")
        assert out[(cid, name)] == _int(value), fid
    return out


def test_summary_audit_and_report_agree(run):
    _, summary, doc, page = run
    from_json = {(cid, n): f[n]["value"] for cid, f in doc["figures"].items() for n in (x.name for x in FIGURES)}
    s, r = summary_values(summary), report_values(page)
    assert set(r) == set(from_json)  # the report shows every figure of every consequence
    assert {r[k] for k in r} != {0}  # not a run where everything is zero
    assert r == from_json
    shared = set(s) & set(from_json)
    assert len(shared) >= len(STANDING) * 3 + len(ERRORS)  # standing of all, errors of the restrictions
    assert {k: s[k] for k in shared} == {k: from_json[k] for k in shared}
    assert from_json[("any-restriction", "wrongly")] > 0


def test_every_figure_printed_with_its_label(run):
    _, summary, doc, page = run
    for cid, figs in doc["figures"].items():
        for f in FIGURES:
            assert figs[f.name]["label"] == label(f.name, cid)
    for n in HEADLINE:
        assert label(n, "any-restriction") in summary
    for f in FIGURES:
        assert html.escape(f.definition) in page or f.definition in page
    assert doc["counts"]["citizens"] == {"value": 3000, "label": "citizens"}
    assert doc["headline"]["restricted_people"] == doc["figures"]["any-restriction"]["ever"]["value"]
