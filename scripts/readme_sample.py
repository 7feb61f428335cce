"""The README's sample output, from a real run of `socialrating demo`.

    python scripts/readme_sample.py            # run the demo, exit 1 if the README's sample differs
    python scripts/readme_sample.py --write    # run the demo and put its abridged output in the README

The demo runs in a temporary directory with `--out runs/demo`, so the paths it prints are
the ones a user sees, and its output is piped (rich then draws 120 columns wide, as in a
log). The abridged sample is the output with the middle of the score table and the
figure definitions (the tables' captions) left out; everything else is verbatim. The
README block sits between the markers `<!-- readme-sample:start -->` and
`<!-- readme-sample:end -->`. tests/test_readme.py runs the same check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- readme-sample:start -->", "<!-- readme-sample:end -->"
KEEP_BINS = ("00-09", "10-19", "50-59")


def demo_output() -> str:
    """stdout of `socialrating demo --out runs/demo`, run in a fresh directory."""
    exe = Path(sys.executable).parent / "socialrating"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "socialrating.cli"]
    env = {**os.environ, "COLUMNS": "120", "TERM": "dumb"}
    with tempfile.TemporaryDirectory() as tmp:
        res = subprocess.run(cmd + ["demo", "--out", "runs/demo"], cwd=tmp, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(f"socialrating demo failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return res.stdout


def _caption_end(lines: list[str], i: int) -> bool:
    """Does line i end a table's caption (is it the next title, a figure line or blank)?"""
    line = lines[i]
    nxt = lines[i + 1] if i + 1 < len(lines) else ""
    return (not line.strip() or nxt.startswith("┏") or bool(re.search(r": [\d,–]+( \(.*\))?$", line))
            or line.startswith(("status mean", "Run folder", "Report:")))


def abridge(text: str) -> str:
    """Drop the score rows other than KEEP_BINS (one '...' row in their place) and the
    captions under the tables (the figures' definitions, also in `audit --json`)."""
    lines = [x.rstrip() for x in text.splitlines()]
    out: list[str] = []
    skipped_bin = in_caption = False
    for i, line in enumerate(lines):
        m = re.match(r"│ (\d\d-\d\d) │", line)
        if m and m.group(1) not in KEEP_BINS:
            if not skipped_bin:
                out.append(" ...")
            skipped_bin = True
            continue
        skipped_bin = False
        if in_caption and not _caption_end(lines, i):
            continue
        in_caption = line.startswith("└")
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def readme_block(readme: str) -> str:
    """The text of the sample's code block in the README."""
    a, b = readme.index(START), readme.index(END)
    block = readme[a + len(START):b]
    return block.split("```\n", 1)[1].rsplit("```", 1)[0]


def replace_block(readme: str, sample: str) -> str:
    a, b = readme.index(START), readme.index(END)
    return readme[:a + len(START)] + "\n```\n" + sample + "```\n" + readme[b:]


def main(argv: list[str]) -> int:
    sample = abridge(demo_output())
    readme = README.read_text(encoding="utf-8")
    if "--write" in argv:
        README.write_text(replace_block(readme, sample), encoding="utf-8")
        print(f"wrote the sample ({len(sample.splitlines())} lines) into {README}")
        return 0
    if readme_block(readme) != sample:
        sys.stdout.write(sample)
        print(f"\nthe README's sample differs from the demo's output above; run {Path(__file__).name} --write",
              file=sys.stderr)
        return 1
    print("the README's sample is the demo's output")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
