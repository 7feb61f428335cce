"""Refactors change no output: every file and every printed line of a small set of runs
matches the recorded fingerprint (scripts/golden.py builds and records it).

A deliberate change of output is recorded with `python scripts/golden.py --write`, and
the commit says why; an architecture change never needs it.
"""

from __future__ import annotations

import json

from repo_scripts import load_script


def _golden():
    return load_script("scripts/golden.py", "golden", register=True)


def test_outputs_match_the_recorded_fingerprint():
    golden = _golden()
    want = json.loads(golden.RECORDED.read_text())
    got = golden.fingerprint()
    assert set(got) == set(want), sorted(set(got) ^ set(want))
    differ = sorted(k for k in want if got[k] != want[k])
    assert differ == [], f"outputs changed: {differ}"
    # the runs really covered the paths the fingerprint claims to guard
    assert {"stdout:contest", "stdout:resolve", "stdout:explain.after"} <= set(got)
    assert any(k.startswith("file:we/audit") for k in got)
