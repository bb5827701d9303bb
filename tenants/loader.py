"""Read a tenants file into the typed model, or raise one ConfigError listing every problem."""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import ValidationError

from . import rules
from .errors import ConfigError, Problem
from .model import TenantsFile

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Document:
    """Parsed YAML plus the line of every key and item, for error messages."""

    def __init__(self, data: Any, lines: dict[tuple, int], duplicates: list[tuple[tuple, int]]):
        self.data = data
        self.lines = lines
        self.duplicates = duplicates

    def line(self, path: tuple) -> Optional[int]:
        # The deepest part of the path that exists in the file (a missing key points at its parent).
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def display(self, path: tuple) -> str:
        """`tenants[workspace-2].gateway.servers[0].port`: tenants by name where the file gives one."""
        out = ""
        node = self.data
        for key in path:
            if isinstance(key, int):
                label: Any = key
                if out == "tenants" and isinstance(node, list) and 0 <= key < len(node):
                    name = node[key].get("name") if isinstance(node[key], dict) else None
                    label = name if isinstance(name, str) and name else key
                out += f"[{label}]"
            else:
                out += f".{key}" if out else str(key)
            node = _child(node, key)
        return out


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _index_lines(node: yaml.Node, path: tuple, lines: dict, duplicates: list) -> None:
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                duplicates.append((path + (key,), key_node.start_mark.line + 1))
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _index_lines(item, path + (i,), lines, duplicates)


def _parse(text: str, shown: str) -> _Document:
    def fail(message: str, line: Optional[int] = None) -> ConfigError:
        return ConfigError([Problem(shown, line, "", message)])

    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise fail(f"not valid YAML: {err.problem or err}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise fail(f"not valid YAML: {err}") from None
    if data is None:
        raise fail("the file is empty; expected a mapping with a 'tenants' list")
    if not isinstance(data, dict):
        raise fail(f"expected a mapping at the top level (controlPlane, observability, tenants), got {_kind(data)}", 1)
    lines: dict[tuple, int] = {}
    duplicates: list[tuple[tuple, int]] = []
    _index_lines(node, (), lines, duplicates)
    return _Document(data, lines, duplicates)


def _kind(value: Any) -> str:
    return {list: "a list", dict: "a mapping", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


@lru_cache(maxsize=1)
def _schema() -> dict:
    return TenantsFile.model_json_schema(by_alias=True)


def allowed_keys(path: tuple) -> list[str]:
    """The keys the schema allows for the mapping at `path` (for 'did you mean' hints)."""
    schema = _schema()
    node: dict = schema

    def resolve(n: dict) -> dict:
        while True:
            if "$ref" in n:
                n = schema["$defs"][n["$ref"].rsplit("/", 1)[1]]
            elif "anyOf" in n:
                n = next((x for x in n["anyOf"] if x.get("type") != "null"), {})
            else:
                return n

    for key in path:
        node = resolve(node)
        node = node.get("items", {}) if isinstance(key, int) else node.get("properties", {}).get(key, {})
    return sorted(resolve(node).get("properties", {}))


def _message(err: dict) -> str:
    kind, msg, value, ctx = err["type"], err["msg"], err.get("input"), err.get("ctx") or {}
    loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field {loc[-1]!r}{hint}; allowed: {', '.join(allowed)}"
    if kind == "missing":
        return "is required"
    if kind == "enum":
        expected = ctx.get("expected", "").replace("'", "")
        return f"{value!r} is not allowed; use one of {expected.replace(' or ', ', ')}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping, got {_kind(value)}"
    if kind == "list_type":
        return f"expected a list, got {_kind(value)}"
    if kind == "string_type":
        return f"{value!r} is not a string"
    if kind in ("bool_type", "bool_parsing"):
        return f"{value!r} is not true or false"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind.startswith(("int_", "float_")):
        return f"{value!r}: {msg[0].lower()}{msg[1:]}"
    return msg


def _problems(doc: _Document, shown: str, findings: list[tuple[tuple, str]]) -> list[Problem]:
    return [Problem(shown, doc.line(path), doc.display(path), message) for path, message in findings]


def parse_tenants(text: str, shown: str) -> TenantsFile:
    """Validate the text of a tenants file; `shown` names it in errors."""
    doc = _parse(text, shown)
    findings = [(path, f"key {path[-1]!r} appears twice in this mapping") for path, _ in doc.duplicates]
    try:
        config = TenantsFile.model_validate(doc.data)
    except ValidationError as err:
        findings += [(tuple(e["loc"]), _message(e)) for e in err.errors(include_url=False)]
        config = None
    if config is not None:
        findings += rules.check(config)
    if findings:
        problems = _problems(doc, shown, findings)
        raise ConfigError(sorted(problems, key=lambda p: p.line or 0))
    return config


def load_tenants(path: Path, shown: Optional[str] = None) -> TenantsFile:
    shown = shown or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(shown, None, "", "no such tenants file")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(shown, None, "", "is a directory, not a tenants file")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([Problem(shown, None, "", f"cannot read the tenants file: {err}")]) from None
    return parse_tenants(text, shown)
