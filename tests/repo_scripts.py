"""Load a script of the repository (scripts/, benchmarks/) as a module, for the tests that
check it: those folders are not packages, and the scripts are run by path, not imported."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load_script(rel: str, name: str, register: bool = False) -> ModuleType:
    """The module of ROOT/rel under `name`; `register`: also in sys.modules (a script whose
    dataclasses or pickles look their module up by name)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / rel)
    mod = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
