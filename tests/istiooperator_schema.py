"""The strict IstioOperator JSON Schema, derived from Istio's own protos.

Upstream's IstioOperator CRD has no schema; istioctl and the 1.23 operator reject unknown fields
by unmarshalling into the protos instead. This reads istio/api `operator/v1alpha1/operator.proto`
(the spec, components, Kubernetes settings) and istio/istio
`operator/pkg/apis/istio/v1alpha1/values_types.proto` (the `values` tree) and writes the schema
../shared/reference/istio/istiooperator-1.23.6.schema.json holds:

- a message is an object with `additionalProperties: false`, its fields under their JSON names
  (`json_name` when given, else protoc's lowerCamelCase), every message in `$defs`;
- `map<>` is an object of the value's schema, `repeated` an array of it;
- scalars and the google.protobuf well-known types take their proto3 JSON forms (64-bit integers
  and enums may be strings as well);
- Kubernetes types (`k8s.io.*`) are left unchecked.

    python -m tests.istiooperator_schema OPERATOR_PROTO VALUES_PROTO [-o FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Union

TITLE = "IstioOperator spec (install.istio.io/v1alpha1), derived from Istio's protos"
SPEC = "IstioOperatorSpec"
VALUES = "Values"
# The $defs prefix of each file's messages.
OPERATOR_PREFIX = "op"
VALUES_PREFIX = "values"

INT64 = {"type": ["integer", "string"]}  # proto3 JSON writes 64-bit integers as strings, reads both
SCALARS = {
    "double": {"type": "number"}, "float": {"type": "number"},
    **{t: {"type": "integer"} for t in ("int32", "uint32", "sint32", "fixed32", "sfixed32")},
    **{t: INT64 for t in ("int64", "uint64", "sint64", "fixed64", "sfixed64")},
    "bool": {"type": "boolean"}, "string": {"type": "string"}, "bytes": {"type": "string"},
}
ENUM = {"type": ["string", "integer"]}  # an enum's name, or its number
WELL_KNOWN = {
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string"},
    "google.protobuf.Int32Value": {"type": "integer"},
    "google.protobuf.UInt32Value": {"type": "integer"},
    "google.protobuf.Int64Value": INT64,
    "google.protobuf.UInt64Value": INT64,
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},  # any JSON value
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {},  # the operator keeps whatever it is given
    "google.protobuf.Duration": {"type": "string"},
    "google.protobuf.Timestamp": {"type": "string"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object"},
}
UNCHECKED_PACKAGES = ("k8s.io.",)  # Kubernetes core types: not described by these protos


class ProtoError(ValueError):
    """The proto text is not what this small parser understands: file, line and what was expected."""


# --- Parsing -----------------------------------------------------------------------------------------


@dataclass
class Field:
    name: str
    type: str  # as written: a scalar, a (qualified) message or enum name
    repeated: bool = False
    map_key: Optional[str] = None  # map<map_key, type>
    options: dict[str, Union[str, bool, int, float]] = field(default_factory=dict)

    @property
    def json_name(self) -> str:
        given = self.options.get("json_name")
        return given if isinstance(given, str) else lower_camel(self.name)


@dataclass
class Message:
    name: str  # dotted within the file: Outer.Inner
    fields: list[Field] = field(default_factory=list)


@dataclass
class ProtoFile:
    package: str = ""
    messages: dict[str, Message] = field(default_factory=dict)  # by dotted name, in file order
    enums: set[str] = field(default_factory=set)  # dotted names


def lower_camel(name: str) -> str:
    """protoc's default JSON name: drop each '_' and upper-case the letter after it."""
    return re.sub(r"_+([a-zA-Z0-9]?)", lambda m: m.group(1).upper(), name)


TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<comment>//[^\n]*|/\*.*?\*/)|(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<word>\.?[A-Za-z_][\w.]*)|(?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+))"""
    r"""|(?P<symbol>[{}\[\]<>()=;,:])""",
    re.S,
)


@dataclass
class Token:
    kind: str
    text: str
    line: int


def tokens(text: str, source: str) -> Iterator[Token]:
    position, line = 0, 1
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match:
            raise ProtoError(f"{source}:{line}: unexpected character {text[position]!r}")
        if match.lastgroup not in ("space", "comment"):
            yield Token(match.lastgroup, match.group(), line)
        line += match.group().count("\n")
        position = match.end()


class Parser:
    """proto3 as Istio writes it: messages, enums, fields, maps, oneofs, options, reserved."""

    def __init__(self, text: str, source: str):
        self.source = source
        self.tokens = list(tokens(text, source))
        self.position = 0
        self.file = ProtoFile()

    # Token helpers.
    def peek(self) -> Optional[Token]:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def next(self, expected: Optional[str] = None) -> Token:
        token = self.peek()
        if token is None:
            raise ProtoError(f"{self.source}: unexpected end of file" + (f", expected {expected!r}" if expected else ""))
        if expected is not None and token.text != expected:
            raise ProtoError(f"{self.source}:{token.line}: expected {expected!r}, found {token.text!r}")
        self.position += 1
        return token

    def word(self) -> str:
        token = self.next()
        if token.kind != "word":
            raise ProtoError(f"{self.source}:{token.line}: expected a name, found {token.text!r}")
        return token.text

    def skip_statement(self) -> None:
        """Up to and including the next ';' at this level (options, reserved, extensions)."""
        depth = 0
        while True:
            text = self.next().text
            if text in ("(", "[", "{"):
                depth += 1
            elif text in (")", "]", "}"):
                depth -= 1
            elif text == ";" and depth == 0:
                return

    def skip_block(self) -> None:
        """Up to the next `{` and past its matching `}` (services, extend, enums, aggregate values)."""
        while self.peek().text != "{":
            self.next()
        depth = 0
        while True:
            depth += {"{": 1, "}": -1}.get(self.next().text, 0)
            if depth == 0:
                return

    def constant(self) -> Union[str, bool, int, float]:
        token = self.next()
        if token.kind == "string":
            return bytes(token.text[1:-1], "utf-8").decode("unicode_escape")
        if token.kind == "number":
            return float(token.text) if re.search(r"[.eE]", token.text) and not token.text.lower().startswith("0x") else int(token.text, 0)
        if token.text in ("true", "false"):
            return token.text == "true"
        if token.text == "{":  # an aggregate option value: unused here
            self.position -= 1
            self.skip_block()
            return ""
        return token.text

    # Grammar.
    def parse(self) -> ProtoFile:
        while (token := self.peek()) is not None:
            keyword = token.text
            if keyword == "syntax":
                self.next()
                self.next("=")
                syntax = self.constant()
                self.next(";")
                if syntax != "proto3":
                    raise ProtoError(f"{self.source}:{token.line}: only proto3 is understood, not {syntax!r}")
            elif keyword == "package":
                self.next()
                self.file.package = self.word()
                self.next(";")
            elif keyword in ("import", "option"):
                self.skip_statement()
            elif keyword == "message":
                self.message(())
            elif keyword == "enum":
                self.enum(())
            elif keyword in ("service", "extend"):
                self.skip_block()
            elif keyword == ";":
                self.next()
            else:
                raise ProtoError(f"{self.source}:{token.line}: unexpected {keyword!r} at the top level")
        return self.file

    def message(self, scope: tuple[str, ...]) -> None:
        self.next("message")
        path = (*scope, self.word())
        message = Message(".".join(path))
        self.file.messages[message.name] = message
        self.next("{")
        self.body(path, message)

    def body(self, path: tuple[str, ...], message: Message) -> None:
        while True:
            token = self.peek()
            if token is None:
                raise ProtoError(f"{self.source}: message {message.name} is not closed")
            keyword = token.text
            if keyword == "}":
                self.next()
                return
            if keyword == "message":
                self.message(path)
            elif keyword == "enum":
                self.enum(path)
            elif keyword == "oneof":
                self.next()
                self.word()
                self.next("{")
                while self.peek() is not None and self.peek().text != "}":
                    if self.peek().text == "option":
                        self.skip_statement()
                    else:
                        message.fields.append(self.field())
                self.next("}")
            elif keyword in ("option", "reserved", "extensions"):
                self.skip_statement()
            elif keyword == "extend":
                self.skip_block()
            elif keyword == ";":
                self.next()
            else:
                message.fields.append(self.field())

    def field(self) -> Field:
        repeated = False
        label = self.peek().text
        if label in ("repeated", "optional"):
            self.next()
            repeated = label == "repeated"
        elif label == "required":
            raise ProtoError(f"{self.source}:{self.peek().line}: 'required' is not proto3")
        map_key = None
        if self.peek().text == "map":
            self.next()
            self.next("<")
            map_key = self.word()
            self.next(",")
            type_name = self.word()
            self.next(">")
        else:
            type_name = self.word()
        name = self.word()
        self.next("=")
        number = self.next()
        if number.kind != "number":
            raise ProtoError(f"{self.source}:{number.line}: field {name}: expected its number, found {number.text!r}")
        options = self.options()
        self.next(";")
        return Field(name, type_name, repeated, map_key, options)

    def options(self) -> dict[str, Union[str, bool, int, float]]:
        options: dict[str, Union[str, bool, int, float]] = {}
        if self.peek() is not None and self.peek().text == "[":
            self.next()
            while True:
                if self.peek().text == "(":  # a custom option: (name).path
                    self.next()
                    name = "(" + self.word() + ")"
                    self.next(")")
                    if self.peek().kind == "word" and self.peek().text.startswith("."):
                        name += self.next().text
                else:
                    name = self.word()
                self.next("=")
                options[name] = self.constant()
                if self.next().text == "]":
                    break
        return options

    def enum(self, scope: tuple[str, ...]) -> None:
        self.next("enum")
        self.file.enums.add(".".join((*scope, self.word())))
        self.skip_block()  # the values' names and numbers: an enum is checked as a string or number


def parse(text: str, source: str = "<proto>") -> ProtoFile:
    return Parser(text, source).parse()


# --- Generating --------------------------------------------------------------------------------------


def _resolve(file: ProtoFile, scope: str, type_name: str) -> Optional[tuple[str, str]]:
    """('message' | 'enum', dotted name in the file) of a type name used inside `scope`, protobuf's way."""
    name = type_name.lstrip(".")
    if file.package and name.startswith(file.package + "."):
        candidates = [name[len(file.package) + 1:]]
    else:  # innermost scope first, then outwards
        parts = scope.split(".") if scope else []
        candidates = [".".join([*parts[:i], name]) for i in range(len(parts), -1, -1)]
    for candidate in candidates:
        if candidate in file.messages:
            return "message", candidate
        if candidate in file.enums:
            return "enum", candidate
    return None


def _type_schema(file: ProtoFile, prefix: str, scope: str, type_name: str, where: str) -> dict:
    if type_name in SCALARS:
        return dict(SCALARS[type_name])
    qualified = type_name.lstrip(".")
    if qualified in WELL_KNOWN:
        return dict(WELL_KNOWN[qualified])
    if qualified.startswith(UNCHECKED_PACKAGES):
        return {}
    found = _resolve(file, scope, type_name)
    if found is None:
        if qualified.startswith("google.protobuf."):
            raise ProtoError(f"{where}: no JSON form known for {qualified}")
        raise ProtoError(f"{where}: unknown type {type_name!r}")
    kind, name = found
    return dict(ENUM) if kind == "enum" else {"$ref": f"#/$defs/{prefix}.{name}"}


def field_schema(file: ProtoFile, prefix: str, message: Message, item: Field) -> dict:
    where = f"{message.name}.{item.name}"
    value = _type_schema(file, prefix, message.name, item.type, where)
    if item.map_key is not None:
        return {"type": "object", "additionalProperties": value}
    if item.repeated:
        return {"type": "array", "items": value}
    return value


def message_schema(file: ProtoFile, prefix: str, message: Message) -> dict:
    properties: dict[str, dict] = {}
    for item in message.fields:
        if item.json_name in properties:
            raise ProtoError(f"{message.name}: two fields have the JSON name {item.json_name!r}")
        properties[item.json_name] = field_schema(file, prefix, message, item)
    return {"type": "object", "additionalProperties": False, "properties": properties}


def definitions(file: ProtoFile, prefix: str) -> dict[str, dict]:
    return {f"{prefix}.{name}": message_schema(file, prefix, message) for name, message in file.messages.items()}


def generate(operator_proto: str, values_proto: Optional[str] = None) -> dict:
    """The IstioOperator schema; without values_types.proto, `spec.values` stays an unchecked object."""
    operator = parse(operator_proto, "operator.proto")
    if SPEC not in operator.messages:
        raise ProtoError(f"operator.proto: no message {SPEC}")
    defs = definitions(operator, OPERATOR_PREFIX)
    spec = json.loads(json.dumps(defs[f"{OPERATOR_PREFIX}.{SPEC}"]))
    if values_proto is not None:
        values = parse(values_proto, "values_types.proto")
        if VALUES not in values.messages:
            raise ProtoError(f"values_types.proto: no message {VALUES}")
        defs.update(definitions(values, VALUES_PREFIX))
        # The spec's `values` is a Struct in operator.proto; the operator reads it into Values.
        spec["properties"]["values"] = {"$ref": f"#/$defs/{VALUES_PREFIX}.{VALUES}"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": TITLE,
        "type": "object",
        "properties": {
            "apiVersion": {"const": "install.istio.io/v1alpha1"},
            "kind": {"const": "IstioOperator"},
            "metadata": {"type": "object"},
            "spec": spec,
        },
        "$defs": defs,
    }


def dumps(schema: dict) -> str:
    """The text as the shared copy is written (so the manifest's sha256 checks the generated file too)."""
    return json.dumps(schema, indent=1, sort_keys=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.istiooperator_schema", description=__doc__.split("\n\n")[0])
    parser.add_argument("operator_proto", type=Path, help="istio/api operator/v1alpha1/operator.proto")
    parser.add_argument("values_proto", type=Path, help="istio/istio operator/pkg/apis/istio/v1alpha1/values_types.proto")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        text = dumps(generate(args.operator_proto.read_text(encoding="utf-8"), args.values_proto.read_text(encoding="utf-8")))
    except (OSError, ProtoError) as err:
        print(err, file=sys.stderr)
        return 2
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
