"""Read a tenants file into the typed model, or raise one ConfigError listing every problem."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import yaml
from pydantic import BaseModel, ValidationError

from . import rules, salvage
from .errors import Brief, ConfigError, Problem
from .model import TenantsFile, rules_checked_by_caller

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Far above any real tenants file (1,000 tenants are about 50,000): stops a file whose
# aliases expand to billions of nodes, which would hang the validation.
MAX_NODES = 1_000_000
# Lists whose items a field path shows by their name: tenants[workspace-1], meshes[usergroup-1].revisions[1-30-5].
_NAMED_LISTS = ("tenants", "meshes")
# Keys and tenant names shown as they are in a field path; anything else is shown quoted.
_PLAIN = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_.]{0,62}")


class _Document:
    """Parsed YAML, its nodes (for the line of any path) and the keys a mapping repeats."""

    def __init__(self, data: Any, root: Optional[yaml.Node], duplicates: list[tuple]):
        self.data = data
        self.root = root
        self.duplicates = duplicates

    def line(self, path: tuple) -> Optional[int]:
        """The line of the deepest part of `path` in the file (a missing key points at its parent)."""
        node, line = self.root, None
        if node is None:  # data given as a mapping, not read from a file
            return None
        for key in path:
            found = _child_node(node, key)
            if found is None:
                break
            line, node = found
        return line

    def display(self, path: tuple) -> str:
        """`tenants[workspace-2].gateway.servers[0].port`: tenants by name where the file gives one."""
        out = ""
        node = self.data
        for key in path:
            if isinstance(key, int) and not isinstance(key, bool):
                label: Any = key
                if (out in _NAMED_LISTS or out.endswith(".revisions")) and isinstance(node, list) and 0 <= key < len(node):
                    name = node[key].get("name") if isinstance(node[key], dict) else None
                    label = name if isinstance(name, str) and _PLAIN.fullmatch(name) else key
                out += f"[{label}]"
            elif isinstance(key, str) and _PLAIN.fullmatch(key):
                out += f".{key}" if out else key
            else:
                out += f"[{Brief(key)!r}]"
            node = _child(node, key)
        return out


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict):
        try:
            return node.get(key)
        except TypeError:  # an unhashable key in a path can only come from a broken file
            return None
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None


def _child_node(node: yaml.Node, key: Any) -> Optional[tuple[int, yaml.Node]]:
    """(line, node) of a key's value or a list item."""
    if isinstance(node, yaml.MappingNode):
        # The last one wins, as in the data: a key written after a merged `<<` one overrides it.
        for key_node, value_node in reversed(node.value):
            if _key(key_node) == key:
                return key_node.start_mark.line + 1, value_node
    elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        item = node.value[key]
        return item.start_mark.line + 1, item
    return None


_KEYS = yaml.constructor.SafeConstructor()


def _key(node: yaml.Node) -> Any:
    """A key as the data has it (`1`, `true`, `null` are not strings)."""
    if not isinstance(node, yaml.ScalarNode):
        return None  # a list or mapping as a key: construction refuses it
    if node.tag == _STR_TAG:
        return node.value
    try:
        return _KEYS.construct_object(node)
    except (yaml.YAMLError, ValueError, OverflowError):
        return node.value


class _Refused(Exception):
    def __init__(self, message: str, line: Optional[int] = None):
        super().__init__(message)
        self.line = line


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse an alias inside its own anchor (endless data) and aliases expanding past MAX_NODES.

    Sizes are counted once per node, so a file of shared aliases costs what it is long."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            open_nodes.discard(id(node))
            size[id(node)] = total = 1 + sum(size[id(child)] for child in _children(node))
            if total > MAX_NODES:
                raise _Refused(f"more than {MAX_NODES} YAML nodes once aliases are expanded; not a tenants file")
            continue
        if id(node) in size:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise _Refused("an alias inside its own anchor: the data would never end", child.start_mark.line + 1)
            if id(child) not in size:
                stack.append((child, False))


def _duplicate_keys(root: yaml.Node) -> tuple[list[tuple], bool]:
    """The path of each key a mapping repeats, and whether any node is reached twice (an alias).

    Runs on the nodes as written: before construction merges `<<` keys into their mappings
    (where a key overriding a merged one is no duplicate)."""
    duplicates = []
    seen_nodes: set[int] = set()
    shared = False
    stack = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            shared = True
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys = set()
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    stack.append((value_node, path))
                    continue
                key = _key(key_node)
                if key in keys:
                    duplicates.append(path + (key,))
                keys.add(key)
                stack.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (i,)) for i, item in enumerate(node.value))
    return duplicates, shared


def parse_document(text: str, shown: str) -> _Document:
    """A YAML mapping with the line of every key, or a one-line ConfigError."""

    def fail(message: str, line: Optional[int] = None) -> ConfigError:
        return ConfigError([Problem(shown, line, "", message)])

    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = duplicates = None
            if node is not None:
                duplicates, shared = _duplicate_keys(node)
                if shared:  # only aliases make nodes reached twice, and so a file larger than it looks
                    _check_expansion(node)
                data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = " ".join(str(err.problem or err).split())
        if mark and _char_at(text, mark.line, mark.column) == "\t":
            problem += " (a tab: YAML indents with spaces)"
        raise fail(f"not valid YAML: {problem}", mark.line + 1 if mark else None) from None
    except (yaml.YAMLError, ValueError, OverflowError) as err:
        # ValueError: a value YAML reads as a date that is none, such as 2024-02-30.
        raise fail(f"not valid YAML: {' '.join(str(err).split())}") from None
    except _Refused as err:
        raise fail(str(err), err.line) from None
    if data is None:
        raise fail("the file is empty; expected a mapping with a 'tenants' list")
    if not isinstance(data, dict):
        raise fail(f"expected a mapping at the top level (controlPlane, observability, tenants), got {_kind(data)}", 1)
    return _Document(data, node, duplicates)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n")
    return lines[line][column : column + 1] if 0 <= line < len(lines) else ""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {list: "a list", dict: "a mapping", str: "a string"}.get(type(value), type(value).__name__)


@lru_cache(maxsize=None)
def _schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema(by_alias=True)


def allowed_keys(path: tuple, model: type[BaseModel] = TenantsFile) -> list[str]:
    """The keys the schema allows for the mapping at `path` (for 'did you mean' hints)."""
    schema = _schema(model)
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


def _did_you_mean(value: Any, allowed: list[str]) -> str:
    if not isinstance(value, str):
        return ""
    by_case = [a for a in allowed if a.lower() == value.lower()]
    close = by_case or difflib.get_close_matches(value, allowed, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def error_message(err: dict, model: type[BaseModel] = TenantsFile) -> str:
    """One pydantic error as the user should read it: what is wrong and what is allowed."""
    kind, msg, ctx = err["type"], err["msg"], err.get("ctx") or {}
    value = Brief(err.get("input"))
    loc = tuple(err["loc"])
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1], model)
        hint = _did_you_mean(loc[-1], allowed)
        return f"unknown field {Brief(loc[-1])!r}{hint}; allowed: {', '.join(allowed)}"
    if kind == "missing":
        return "is required"
    if kind == "enum":
        expected = [e.strip(" '") for e in re.split(r",| or ", ctx.get("expected", "")) if e.strip(" '")]
        return f"{value!r} is not allowed; use one of {', '.join(expected)}{_did_you_mean(err.get('input'), expected)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping, got {_kind(err.get('input'))}"
    if kind == "list_type":
        return f"expected a list, got {_kind(err.get('input'))}"
    if kind == "string_type":
        return f"{value!r} is not a string"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("bool_type", "bool_parsing"):
        return f"{value!r} is not true or false"
    if kind == "invalid_key":
        return f"key {value!r} is not a string; keys are field names"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind.startswith(("int_", "float_")) and msg:
        return f"{value!r}: {msg[0].lower()}{msg[1:]}"
    return " ".join(msg.split())


Rules = Callable[[TenantsFile], list[tuple[tuple, str]]]


def _validate(data: dict, extra: Optional[Rules] = None) -> tuple[Optional[TenantsFile], list[tuple[tuple, str]]]:
    """The typed model and every finding, from the model, the cross-tenant rules and `extra`."""
    try:
        config = TenantsFile.model_validate(data, context=rules_checked_by_caller())
    except ValidationError as err:
        errors = err.errors(include_url=False)
        return None, [(tuple(e["loc"]), error_message(e)) for e in errors] + salvage.rule_findings(data, errors)
    return config, rules.check(config) + (extra(config) if extra else [])


def parse_tenants(
    content: Union[str, Mapping[str, Any]], source: str = "tenants", extra: Optional[Rules] = None
) -> TenantsFile:
    """A validated tenants model from a tenants file's text or its data (a mapping, as YAML reads it).

    Every rule runs, field by field and across tenants; any mistake raises one ConfigError that
    lists them all, each naming `source`, the line (for text) and the field. `extra`: rules of the
    stack's settings (its install method), checked once the file passes the model."""
    if isinstance(content, str):
        doc = parse_document(content, source)
    elif isinstance(content, Mapping):
        doc = _Document(dict(content), None, [])
    else:
        raise TypeError(f"parse_tenants takes a tenants file's text or a mapping, not {type(content).__name__}")
    findings = [(path, f"key {Brief(path[-1])!r} appears twice in this mapping") for path in doc.duplicates]
    config, found = _validate(doc.data, extra)
    findings += found
    if findings or config is None:
        raise _config_error(doc, source, findings)
    return config


def check_rules(config: TenantsFile, source: str) -> None:
    """Raise a ConfigError naming every rule across tenants that `config` breaks."""
    findings = rules.check(config)
    if findings:
        raise _config_error(_Document(config.model_dump(by_alias=True), None, []), source, findings)


def _config_error(doc: _Document, source: str, findings: list[tuple[tuple, str]]) -> ConfigError:
    if doc.root is None:  # no lines to order by: the order of the data
        findings = sorted(findings, key=lambda f: [(isinstance(k, str), k if isinstance(k, int) else str(k)) for k in f[0]])
    def described(path: tuple) -> str:
        line = doc.line(path)
        return f"{doc.display(path)}, line {line}" if line else doc.display(path)

    problems = dict.fromkeys(
        Problem(source, doc.line(path), doc.display(path), rules.resolve_places(message, described)) for path, message in findings
    )
    return ConfigError(sorted(problems, key=lambda p: p.line or 0))


def read_text(path: Path, shown: str, what: str) -> str:
    """A config file's text, or a one-line ConfigError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(shown, None, "", f"no such {what}")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(shown, None, "", f"is a directory, not a {what}")]) from None
    except UnicodeDecodeError as err:
        raise ConfigError([Problem(shown, None, "", f"not UTF-8 text ({err.reason} at byte {err.start})")]) from None
    except OSError as err:
        raise ConfigError([Problem(shown, None, "", f"cannot read the {what}: {err.strerror or err}")]) from None


def load_tenants(path: Union[str, Path], shown: Optional[str] = None, extra: Optional[Rules] = None) -> TenantsFile:
    """A validated tenants model from a tenants file (see parse_tenants); `shown` names it in errors."""
    shown = shown or str(path)
    return parse_tenants(read_text(Path(path), shown, "tenants file"), shown, extra)
