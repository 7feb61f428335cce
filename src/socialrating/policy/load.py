"""Load policies from YAML: built-in by name, or a user's file, with errors that say where.

An error is one line that names the file, the field (as a dotted path such as
`rules[3].points`) and what was expected, so that a policy author can fix it without
reading this code, and so that the command line can print it without a traceback.

The YAML is read defensively, because a policy file is input from whoever wrote it:

* at most 1 MiB of UTF-8 text (a byte that is not UTF-8 is named with its line);
* nesting at most 100 levels deep (checked while composing, so a condition nested
  3,000 deep is an error, not a RecursionError);
* anchors and aliases are allowed (authors use them to share a reference), but the
  document they expand to is budgeted at 100,000 nodes, and an alias to itself is an
  error: a 4 KB "billion laughs" file is refused at once instead of filling memory;
* a key given twice in one mapping is an error naming both lines (YAML would keep the
  last one silently);
* dates are left as text for the model to check, so `2024-02-30` is reported at its
  field (`effective_from: ... day value is outside expected range`);
* every event type named must be one the sources report (policy/catalog.py), with
  "did you mean" for a typo: a rule on `fine.trafic` would otherwise never fire.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from .catalog import BY_NAME
from .model import Policy

BUILTIN_PACKAGE = "socialrating.policy.builtin"
MAX_POLICY_BYTES = 1 << 20
MAX_YAML_DEPTH = 100
MAX_YAML_NODES = 100_000
MAX_PROBLEMS_SHOWN = 5
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class PolicyError(ValueError):
    """A policy file could not be read or does not validate (the message is one line)."""


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
    """The text of a built-in policy or a file, or a PolicyError saying why it cannot be read."""
    s = str(name_or_path)
    if s in builtin_names():
        path = builtin_path(s)
    else:
        path = Path(s)
        if not path.exists():
            near = difflib.get_close_matches(s, builtin_names(), n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            raise PolicyError(
                f"{s}: no such policy file, and not a built-in policy "
                f"({hint}built-in: {', '.join(builtin_names())})"
            )
        if path.is_dir():
            raise PolicyError(f"{s}: is a directory; expected a policy YAML file")
    try:
        size = path.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise PolicyError(f"{s}: {size:,} bytes; a policy file is at most {MAX_POLICY_BYTES:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{s}: cannot be read: {exc.strerror or exc}") from None
    return decode_policy_bytes(data, s), str(path)


def decode_policy_bytes(data: bytes, origin: str) -> str:
    """UTF-8 text of a policy file (a BOM is allowed); otherwise name the first bad byte's line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise PolicyError(
            f"{origin}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
            "save the policy as UTF-8") from None


class _PolicyLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text and refuses nesting beyond MAX_YAML_DEPTH."""

    _depth = 0

    def compose_node(self, parent, index):  # noqa: D401 - PyYAML hook
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"line {mark.line + 1}, column {mark.column + 1}: nested more than "
                               f"{MAX_YAML_DEPTH} levels deep; a policy is at most {MAX_YAML_DEPTH} "
                               "(a condition at most 32)")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_constructor(_TIMESTAMP, yaml.SafeLoader.construct_yaml_str)


class _Refused(Exception):
    """A structural problem found while reading the YAML (message without the file name)."""


def parse_policy(text: str, origin: str = "<string>", *, known_types: bool = True) -> Policy:
    """Validate a policy's YAML text; `origin` names it in errors.

    known_types: every event type must be one the sources report (catalog.py). Pass False
    only for a policy meant for a user's own events table through the Python API.
    """
    if len(text) > MAX_POLICY_BYTES:
        raise PolicyError(f"{origin}: {len(text):,} characters; a policy file is at most {MAX_POLICY_BYTES:,} bytes")
    data = _load_yaml(text, origin)
    if data is None:
        raise PolicyError(f"{origin}: the file is empty; expected a policy (a mapping with name, rules, ...)")
    if not isinstance(data, dict):
        raise PolicyError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(format_errors(origin, exc, data)) from None
    if known_types:
        problems = unknown_event_types(policy)
        if problems:
            raise PolicyError(_one_line(origin, problems))
    return policy


def _load_yaml(text: str, origin: str):
    """Compose, check the node graph (duplicates, aliases, size), then construct."""
    try:
        loader = _PolicyLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        line = text.count("\n", 0, exc.position) + 1
        raise PolicyError(f"{origin}: line {line}: character U+{exc.character:04X} is not allowed in YAML "
                          "(is this a binary file?)") from None
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_nodes(root)
        return loader.construct_document(root)
    except _Refused as exc:
        raise PolicyError(f"{origin}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise PolicyError(f"{origin}: {where}not valid YAML: {_flat(what)}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{origin}: not valid YAML: {_flat(str(exc))}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # an explicit tag (!!int, !!float) on bad text
        raise PolicyError(f"{origin}: not valid YAML: {_flat(str(exc))}") from None
    finally:
        loader.dispose()


def _flat(s: str, limit: int = 200) -> str:
    """One line, at most `limit` characters: errors quote user input."""
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _check_nodes(root: yaml.Node) -> None:
    """Refuse duplicate keys, self-referencing aliases and documents that expand too far.

    Aliases share one node object, so the expanded size and height are computed with a
    memo per node: linear in the file, however many times an alias multiplies, and the
    walk never goes deeper than MAX_YAML_DEPTH (chained aliases can nest deeper than
    the text does).
    """
    memo: dict[int, tuple[int, int]] = {}
    open_: set[int] = set()

    def visit(node: yaml.Node, path: str, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_:
            raise _Refused(f"line {node.start_mark.line + 1}: {path or 'the document'} contains an alias to itself")
        if key not in memo:
            if depth > MAX_YAML_DEPTH:
                _too_deep(node)
            open_.add(key)
            memo[key] = _children(node, path, depth, visit)
            open_.discard(key)
        n, height = memo[key]
        if depth + height - 1 > MAX_YAML_DEPTH:
            _too_deep(node)
        return n, height

    visit(root, "", 1)


def _children(node: yaml.Node, path: str, depth: int, visit) -> tuple[int, int]:
    """(expanded size, height) of one node, visiting its children; duplicate keys refused."""
    n, height = 1, 1
    if isinstance(node, yaml.MappingNode):
        first: dict[str, yaml.Mark] = {}
        for k, v in node.value:
            name = k.value if isinstance(k, yaml.ScalarNode) else None
            if name is not None and name != "<<":
                if name in first:
                    raise _Refused(
                        f"{_at(k.start_mark)}: duplicate key '{_flat(name, 60)}' in {path or 'the top level'} "
                        f"(first at {_at(first[name])}); give each key once")
                first[name] = k.start_mark
            child = f"{path}.{name}" if path else str(name)
            for sub in (visit(k, path, depth + 1), visit(v, child, depth + 1)):
                n += sub[0]
                height = max(height, sub[1] + 1)
            _budget(n, node)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            sub = visit(v, f"{path}[{i}]", depth + 1)
            n += sub[0]
            height = max(height, sub[1] + 1)
            _budget(n, node)
    return n, height


def _at(mark: yaml.Mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _too_deep(node: yaml.Node) -> None:
    raise _Refused(f"line {node.start_mark.line + 1}: nested more than {MAX_YAML_DEPTH} levels deep "
                   f"(aliases included); a policy is at most {MAX_YAML_DEPTH} (a condition at most 32)")


def _budget(n: int, node: yaml.Node) -> None:
    if n > MAX_YAML_NODES:
        raise _Refused(f"line {node.start_mark.line + 1}: the document expands to more than {MAX_YAML_NODES:,} "
                       "values (aliases included); a policy is far smaller: is this an alias bomb?")


def unknown_event_types(policy: Policy) -> list[str]:
    """'path: problem' for every event type no source reports, with the nearest known type."""
    from .conditions import walk

    named: list[tuple[str, str]] = []
    for i, r in enumerate(policy.rules):
        named.append((f"rules[{i}].event_type", r.event_type))
    for i, c in enumerate(policy.closures):
        named.append((f"closures[{i}].event_type", c.event_type))
        named += [(f"closures[{i}].closes[{j}]", t) for j, t in enumerate(c.closes)]
    whens = [(f"consequences[{i}].when", c.when) for i, c in enumerate(policy.consequences)]
    if policy.rating.bands:
        whens += [(f"rating.bands.caps[{i}].when", c.when) for i, c in enumerate(policy.rating.bands.caps)]
    for path, cond in whens:
        named += [(path, t) for c in walk(cond) for t in c.event_counts()]
    return [f"{path}: {unknown_type_message(t)}" for path, t in named if t not in BY_NAME]


def unknown_type_message(event_type: str) -> str:
    near = difflib.get_close_matches(event_type, list(BY_NAME), n=1, cutoff=0.6)
    hint = f"did you mean '{near[0]}'?" if near else \
        "known types begin with " + ", ".join(sorted({t.split('.')[0] + '.' for t in BY_NAME}))
    return f"unknown event type '{_flat(event_type, 80)}', which no source reports ({hint})"


def _one_line(origin: str, problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    more = f"; and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
    return f"{origin}: {len(problems)} problem(s) in the policy - {shown}{more}"


def format_errors(origin: str, exc: ValidationError, data: dict) -> str:
    """All of pydantic's findings on one line: `file: N problem(s) in the policy - path: what; ...`."""
    problems = []
    errors = exc.errors()
    for err in errors:
        if len(errors) > 1 and _union_noise(err):
            continue
        loc = _path(err["loc"], data)
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see `socialrating policy schema`)"
        elif err["type"] == "literal_error":
            msg = "expected " + msg.removeprefix("Input should be ")
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if err["type"] in ("missing",) or isinstance(got, (dict, list)) else f" (got {_flat(repr(got), 60)})"
        problems.append(f"{loc}: {_flat(msg, 300)}{shown}" if loc else f"{_flat(msg, 300)}{shown}")
    return _one_line(origin, problems)


def _union_noise(err: dict) -> bool:
    """`has_active` is text or a mapping: when a mapping was given, the text branch's
    'Input should be a valid string' says nothing; the mapping branch's error is the one."""
    return err["type"] == "string_type" and err["loc"][-1:] == ("str",) and isinstance(err.get("input"), dict)


def _path(loc: tuple, data) -> str:
    """Render a pydantic location as `rules[2].points`, dropping union-tag noise.

    pydantic names fields by their alias (`in`, `not`), as the file does. A value that is
    not a mapping or a list (null, a number, text) is itself at fault: the path stops there,
    so `has_active:` left empty is `when.has_active`, not `when.has_active.has_active.str`.
    """
    out = ""
    node = data
    last = len(loc) - 1
    for i, part in enumerate(loc):
        if not isinstance(node, (dict, list)):
            break  # the value itself is at fault (a validator on a text field, a null): no deeper path
        if isinstance(part, str) and isinstance(node, list):
            continue  # a field named like its union tag (`all: [...]`), already in the path
        if isinstance(part, int) and isinstance(node, list):
            out += f"[{part}]"
            node = node[part]
        elif isinstance(node, dict) and part in node:
            out += ("." if out else "") + str(part)
            node = node[part]
        elif i == last:
            out += ("." if out else "") + str(part)  # e.g. a missing field
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
