"""Data flows one way through the stages: a lower stage never imports a higher one.

The floors, from the ground up (the README's "How it works" draws the same order):
policy and identity (the vocabulary: event types, refused categories, identifiers, linkage),
population, sources, engine, store, simulate, audit, report, web, then cli.py on top.
`atomic.py` (whole-file writes under the folder's lock) and `parallel.py` (the command's one thread pool)
are ground-floor utilities.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "socialrating"
FLOOR = {"atomic": 0, "parallel": 0, "policy": 0, "identity": 0, "population": 1, "sources": 2, "engine": 3, "store": 4,
         "simulate": 5, "audit": 6, "report": 7, "web": 8, "cli": 9}


def _stage(parts: tuple[str, ...]) -> str:
    return parts[0][:-3] if len(parts) == 1 else parts[0]


def imports_by_module(root: Path = PACKAGE) -> dict[str, list[str]]:
    """Each module (path relative to the package) -> the stages it imports, relative or absolute,
    at any depth (imports inside functions count too)."""
    out: dict[str, list[str]] = {}
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).parts
        got = []
        for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(n, ast.ImportFrom) and n.level > 0:
                here = list(rel[:-1])
                base = here[:len(here) - (n.level - 1)] if n.level > 1 else here
                target = base + (n.module.split(".") if n.module else [])
                if target:
                    got.append(target[0])
                else:  # `from . import x` at the package root
                    got += [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom) and (n.module or "").startswith("socialrating."):
                got.append(n.module.split(".")[1])
            elif isinstance(n, ast.Import):
                got += [a.name.split(".")[1] for a in n.names if a.name.startswith("socialrating.")]
        out["/".join(rel)] = got
    return out


def test_every_stage_has_a_floor():
    stages = {_stage(f.relative_to(PACKAGE).parts) for f in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert stages <= set(FLOOR), f"stages without a floor: {sorted(stages - set(FLOOR))}"


def upward_imports(root: Path = PACKAGE) -> list[str]:
    upward = []
    for module, targets in imports_by_module(root).items():
        own = FLOOR.get(_stage(tuple(module.split("/"))))
        if own is None:
            continue
        upward += [f"{module} imports {t}" for t in targets if FLOOR.get(t, -1) > own]
    return upward


def test_no_stage_imports_a_higher_one():
    assert upward_imports() == []


@pytest.mark.parametrize("module, line, found", [
    ("identity/x.py", "from ..sources.schemas import schema_for", ["identity/x.py imports sources"]),
    ("engine/x.py", "def f():\n    from socialrating.simulate import simulation", ["engine/x.py imports simulate"]),
    ("store/x.py", "import socialrating.report.html", ["store/x.py imports report"]),
    ("report/x.py", "from ..store import runfolder", []),
])
def test_the_check_finds_an_upward_import(tmp_path, module, line, found):
    """The check itself, on a planted module: upward imports are found, downward ones are not."""
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text(line + "\n", encoding="utf-8")
    assert upward_imports(tmp_path) == found


def test_every_source_has_one_record_prefix_and_agency_hooks_are_found_by_module():
    """A new agency declares its record prefix in its schema and its own error model in
    its module; nothing else names it (sources/schemas.py, sources/agencies/)."""
    from socialrating.sources.agencies import AGENCIES
    from socialrating.sources.errors import _own_error_model
    from socialrating.sources.schemas import SCHEMAS
    from socialrating.sources.synthetic import RECORD_PREFIX

    prefixes = [s.prefix for s in SCHEMAS.values()]
    assert all(len(p) == 3 and p.isascii() and p.isupper() for p in prefixes)
    assert len(set(prefixes)) == len(prefixes)
    assert RECORD_PREFIX == {n: s.prefix for n, s in SCHEMAS.items()}
    assert {a.SOURCE for a in AGENCIES} <= set(SCHEMAS)
    own = {a.SOURCE for a in AGENCIES if _own_error_model(a.SOURCE) is not None}
    assert own == {"marketplace"}
    assert _own_error_model("tax") is None
