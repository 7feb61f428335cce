"""The four roles in a real browser: Playwright driving the system's Chromium against a
real uvicorn server on loopback.

A citizen restricted only through a wrongly attributed entry logs in, finds it and
contests it; a reviewer overturns it; the citizen sees the restriction lifted; a relying
party's check before and after answers restricted, then allowed, and both checks are in
the citizen's access log. The analyst opens the report, the comparison, the calibration
table and the list of wrongly restricted people, down to one record. No page breaks its
own Content-Security-Policy. Screenshots of every page go to test-artifacts/web/ (or
$SOCIALRATING_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from socialrating.simulate.simulation import SimConfig, simulate
from socialrating.store import access
from socialrating.web.app import create_app
from socialrating.web.service import format_snils
from web_fixture import PEOPLE, Server, copy_run

ARTIFACTS = Path(os.environ.get("SOCIALRATING_TEST_ARTIFACTS") or
                 Path(__file__).resolve().parent.parent / "test-artifacts" / "web")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    msg = "headless Chromium not found (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def served(web_run, web_wronged, tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    run = copy_run(web_run, base / "run")
    other = base / "bonus-only"
    simulate(SimConfig(policy="bonus-only", people=PEOPLE, years=2.0, seed=7, world="synthetic"), other)
    app = create_app(run, compare_with=(other,))
    svc = app.state.svc
    with svc.lock:
        secrets = {
            "code": access.issue(svc.store, "citizen", "w", citizen_id=web_wronged.citizen_id)[1],
            "key": access.issue(svc.store, "org", "Volga Bank", contexts=(web_wronged.context,))[1],
            "reviewer": access.issue(svc.store, "reviewer", "Rita")[1],
            "analyst": access.issue(svc.store, "analyst", "Ana")[1],
        }
    with Server(app) as server:
        yield server, secrets
    svc.close()


def _check(server, key, snils, context) -> dict:
    r = httpx.post(f"{server.url}/api/v1/checks", json={"snils": format_snils(snils), "context": context},
                   headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


class Shots:
    def __init__(self):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def __call__(self, page, name: str) -> None:
        self.n += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.n:02d}-{name}.png"), full_page=True)


def _watch_csp(page, bad: list) -> None:
    page.on("console", lambda m: bad.append(m.text) if "Content Security Policy" in m.text else None)


def test_four_roles_in_chromium(served, web_wronged):
    from playwright.sync_api import sync_playwright

    server, sec = served
    w = web_wronged
    before = _check(server, sec["key"], w.snils, w.context)
    assert before["decision"] == "restricted" and w.consequence_id in [c["consequence_id"] for c in before["consequences"]]
    shot, csp = Shots(), []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            citizen = browser.new_context().new_page()
            _watch_csp(citizen, csp)
            _citizen_contests(citizen, server, sec, w, shot)
            reviewer = browser.new_context().new_page()
            _watch_csp(reviewer, csp)
            _reviewer_overturns(reviewer, server, sec, w, shot)
            after = _check(server, sec["key"], w.snils, w.context)
            assert after["decision"] == "allowed" and after["consequences"] == []
            _citizen_sees_it_lifted(citizen, w, before, after, shot)
            analyst = browser.new_context().new_page()
            _watch_csp(analyst, csp)
            _analyst_reads(analyst, server, sec, shot)
        finally:
            browser.close()
    assert csp == [], csp
    print(f"\nscreenshots: {ARTIFACTS} ({shot.n})")


def _citizen_contests(page, server, sec, w, shot) -> None:
    page.goto(f"{server.url}/")
    assert "Synthetic data" in page.inner_text(".synthetic")
    shot(page, "home")
    page.click("text=Citizen login")
    page.fill("#snils", format_snils(w.snils))
    page.fill("#code", sec["code"])
    shot(page, "citizen-login")
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url("**/me")
    row = page.locator(f"tr.consequence[data-consequence='{w.consequence_id}']")
    assert row.count() == 1 and str(w.entry_id) in row.inner_text()  # the way out names the entry
    shot(page, "citizen-record")
    entry = page.locator(f"#entry-{w.entry_id}")
    entry.locator("summary").click()
    entry.locator("textarea").fill("This record is not mine: the bailiffs confused me with a namesake.")
    shot(page, "citizen-contest-form")
    entry.locator("button:has-text('Send the contest')").click()
    page.wait_for_url("**/me?done=contested")
    assert "awaiting review" in page.inner_text("#contests")
    assert "contested" in entry.locator(".state").inner_text()
    shot(page, "citizen-contested")


def _reviewer_overturns(page, server, sec, w, shot) -> None:
    page.goto(f"{server.url}/login/staff")
    page.select_option("#role", "reviewer")
    page.fill("#name", "Rita")
    page.fill("#password", sec["reviewer"])
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url("**/review")
    row = page.locator(f"#queue-{w.entry_id}")
    assert row.count() == 1 and "namesake" in row.inner_text()
    shot(page, "reviewer-queue")
    row.locator("textarea").fill("The bailiffs' register shows another person with this name.")
    row.locator("button:has-text('Overturn')").click()
    page.wait_for_url("**/review?done=overturned")
    assert page.locator(f"#queue-{w.entry_id}").count() == 0
    shot(page, "reviewer-overturned")


def _citizen_sees_it_lifted(page, w, before, after, shot) -> None:
    page.reload()
    assert page.locator(f"tr.consequence[data-consequence='{w.consequence_id}']").count() == 0
    assert "overturned" in page.locator(f"#entry-{w.entry_id} .state").inner_text()
    assert "overturned on" in page.inner_text("#contests")
    log = page.locator("#access-log tr.check")
    assert log.count() == 2
    rows = [log.nth(i).inner_text() for i in range(2)]
    assert str(before["check_id"]) in rows[0] and "restricted" in rows[0] and "Volga Bank" in rows[0]
    assert str(after["check_id"]) in rows[1] and "allowed" in rows[1]
    shot(page, "citizen-lifted-and-access-log")


def _analyst_reads(page, server, sec, shot) -> None:
    page.goto(f"{server.url}/login/staff")
    page.select_option("#role", "analyst")
    page.fill("#name", "Ana")
    page.fill("#password", sec["analyst"])
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_url("**/analyst")
    shot(page, "analyst-home")
    page.click("text=The run's report")
    frame = page.frame_locator("iframe.report")
    frame.locator("h1").first.wait_for(timeout=120_000)
    frame.locator(".plotly-graph-div .main-svg").first.wait_for(timeout=60_000)  # the charts draw in the sandbox
    assert frame.locator(".plotly-graph-div").count() >= 4
    shot(page, "analyst-report")
    page.goto(f"{server.url}/analyst/compare/0")
    cmp = page.frame_locator("iframe.report")
    cmp.locator("h1").first.wait_for(timeout=120_000)
    assert "against" in cmp.locator("h1").first.inner_text()
    cmp.locator(".plotly-graph-div .main-svg").first.wait_for(timeout=60_000)
    shot(page, "analyst-compare")
    page.goto(f"{server.url}/analyst/calibration")
    assert page.locator("table tr").count() >= 3
    shot(page, "analyst-calibration")
    page.goto(f"{server.url}/analyst/people?list=wrongly")
    people = page.locator("tr.person a")
    assert people.count() >= 1
    shot(page, "analyst-wrongly-restricted")
    people.first.click()
    page.wait_for_url("**/analyst/citizens/*")
    assert page.locator("#entries tr.entry").count() >= 1
    shot(page, "analyst-citizen-record")
