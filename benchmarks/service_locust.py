"""Locust users for benchmarks/service.py (not run on its own).

RelyingParty: `POST /api/v1/checks` for random people and the key's contexts, no pause.
Citizen: logs in with its own one-time code, then reads its record page and its JSON
record with a second's pause between requests (a person reading a page).
Inputs come from the file named by $SR_BENCH_INPUT (written by service.py).
"""

from __future__ import annotations

import json
import os
import random

from locust import FastHttpUser, between, constant, events, task

_INPUT = json.loads(open(os.environ["SR_BENCH_INPUT"], encoding="utf-8").read())
_ANSWERED: list[tuple[int, str]] = []  # (check_id, log_hash) of every check answered


@events.test_stop.add_listener
def _save_answers(**_kw) -> None:
    path = os.environ.get("SR_BENCH_ANSWERS")
    if path and _ANSWERED:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(_ANSWERED, f)


class RelyingParty(FastHttpUser):
    wait_time = constant(0)
    weight = int(os.environ.get("SR_CHECK_WEIGHT", "1"))

    @task
    def check(self) -> None:
        snils = random.choice(_INPUT["snils"])
        ctx = random.choice(_INPUT["contexts"])
        with self.client.post("/api/v1/checks", json={"snils": snils, "context": ctx},
                              headers={"Authorization": f"Bearer {_INPUT['key']}"}, name="check",
                              catch_response=True) as r:
            body = r.json() if r.status_code == 200 else {}
            if body.get("decision") not in ("allowed", "restricted"):
                r.failure(f"status {r.status_code}")
            else:
                _ANSWERED.append((body["check_id"], body["log_hash"]))


class Citizen(FastHttpUser):
    wait_time = between(0.5, 1.5)
    weight = int(os.environ.get("SR_CITIZEN_WEIGHT", "1"))

    def on_start(self) -> None:
        login = _INPUT["logins"].pop()
        r = self.client.post("/api/v1/citizen/login", json=login, name="citizen login")
        self.token = r.json()["token"] if r.status_code == 200 else None

    @task(3)
    def page(self) -> None:
        with self.client.get("/me", headers=self._auth(), name="citizen page", catch_response=True) as r:
            if r.status_code != 200 or "Who checked you" not in r.text:
                r.failure(f"status {r.status_code}")

    @task(1)
    def record(self) -> None:
        self.client.get("/api/v1/citizen/me", headers=self._auth(), name="citizen record (JSON)")

    def _auth(self) -> dict:
        return {"Cookie": f"sr_session={self.token}"} if self.token else {}
