"""Load policies from YAML: built-in by name, or a user's file, with errors that say where.

An error names the file, the field (as a dotted path such as `rules[3].points`) and what
was expected, so that a policy author can fix it without reading this code.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from .model import Policy

BUILTIN_PACKAGE = "socialrating.policy.builtin"


class PolicyError(ValueError):
    """A policy file could not be read or does not validate."""


def builtin_names() -> list[str]:
    files = resources.files(BUILTIN_PACKAGE)
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def builtin_path(name: str) -> Path:
    return Path(str(resources.files(BUILTIN_PACKAGE) / f"{name}.yaml"))


def load_policy(name_or_path: str | Path) -> Policy:
    """Load a built-in policy by name (e.g. 'we-platform') or a YAML file by path."""
    text, origin = read_policy_text(name_or_path)
    return parse_policy(text, origin)


def read_policy_text(name_or_path: str | Path) -> tuple[str, str]:
    s = str(name_or_path)
    if s in builtin_names():
        path = builtin_path(s)
    else:
        path = Path(s)
        if not path.exists():
            raise PolicyError(
                f"{s}: no such policy file, and not a built-in policy "
                f"(built-in: {', '.join(builtin_names())})"
            )
    return path.read_text(encoding="utf-8"), str(path)


def parse_policy(text: str, origin: str = "<string>") -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{origin}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(format_errors(origin, exc, data)) from None


def format_errors(origin: str, exc: ValidationError, data: dict) -> str:
    lines = [f"{origin}: {exc.error_count()} problem(s) in the policy"]
    for err in exc.errors():
        loc = _path(err["loc"], data)
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see `socialrating policy schema`)"
        elif err["type"] == "literal_error":
            msg = "expected " + msg.removeprefix("Input should be ")
        got = err.get("input")
        shown = "" if err["type"] in ("missing",) or isinstance(got, (dict, list)) else f" (got {got!r})"
        lines.append(f"  - {loc or '<top>'}: {msg}{shown}")
    return "\n".join(lines)


def _path(loc: tuple, data) -> str:
    """Render a pydantic location as `rules[2].points`, dropping union-tag noise."""
    out = ""
    node = data
    last = len(loc) - 1
    for i, part in enumerate(loc):
        if i == last and isinstance(part, str) and not (isinstance(node, dict) and part in node):
            out += ("." if out else "") + part.rstrip("_")  # e.g. a missing or unknown field
            break
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
        elif isinstance(node, dict) and part in node:
            out += ("." if out else "") + part
            node = node[part]
        elif part in ("not_", "in_"):
            out += "." + part.rstrip("_")
            node = None
        elif node is None or not isinstance(node, dict):
            out += ("." if out else "") + str(part)
        # else: a union tag such as 'status' or 'str' that is not in the data: skip
    return out


def policy_hash(policy: Policy) -> str:
    """sha256 of the policy's canonical JSON: the same rules give the same hash."""
    canon = json.dumps(policy.model_dump(mode="json", by_alias=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def json_schema() -> dict:
    """JSON Schema of a policy file, for editors (`socialrating policy schema`)."""
    schema = Policy.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "socialrating policy"
    return schema
