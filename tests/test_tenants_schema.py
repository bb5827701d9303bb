"""tenants/schema.json: generated from the model, committed, and agreeing with the program.

Editors validate with the schema as a tenants file is typed; the program validates with the
model and the cross-tenant rules. The schema cannot express rules across tenants, so the
agreement is one-sided where it must be: every file the program accepts, the schema accepts
(an editor never flags a good file), and the field-level mistakes below are caught by both.
"""

from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest
import yaml

from render.engine import PROJECT_ROOT
from tenants import ConfigError, parse_tenants
from tenants.schema import SCHEMA_PATH, schema_text
from tests.test_tenants_rules import VALID_FILES

SCHEMA_LINE = "# yaml-language-server: $schema=./schema.json"
TENANTS_FILES = sorted((PROJECT_ROOT / "tenants").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema)


def test_the_committed_schema_is_up_to_date():
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), "tenants/schema.json is out of date: run `make schema`"


def test_the_schema_is_a_valid_draft7_schema(schema):
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def _properties(schema: dict):
    for owner, node in [("(top level)", schema), *schema["$defs"].items()]:
        for name, prop in node.get("properties", {}).items():
            yield owner, name, prop, name in node.get("required", [])


def test_every_field_is_camel_case_and_described(schema):
    for owner, name, prop, _ in _properties(schema):
        assert "_" not in name, f"{owner}.{name}"
        assert prop.get("description"), f"{owner}.{name} has no description"


def _field_paths(schema: dict, node: dict, prefix: str = ""):
    """`tenants[].gateway.servers[].port`: every field, as the reference table names it."""
    for name, prop in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path
        target, suffix = prop, ""
        if prop.get("type") == "array" or any(a.get("type") == "array" for a in prop.get("anyOf", [])):
            target = prop.get("items") or next(a["items"] for a in prop["anyOf"] if a.get("type") == "array")
            suffix = "[]"
        refs = [r["$ref"] for r in [target, *target.get("allOf", []), *target.get("anyOf", [])] if "$ref" in r]
        for ref in refs:
            yield from _field_paths(schema, schema["$defs"][ref.rsplit("/", 1)[1]], path + suffix)


def test_the_reference_table_lists_every_field(schema):
    """The README's reference table misses no field."""
    docs = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    paths = list(_field_paths(schema, schema))
    assert "tenants[].gateway.servers[].tls.credentialName" in paths
    assert [p for p in paths if f"| `{p}` |" not in docs] == []


def test_every_optional_field_shows_its_default(schema):
    for owner, name, prop, required in _properties(schema):
        assert required or "default" in prop, f"{owner}.{name} is optional but shows no default"


@pytest.mark.parametrize("path", TENANTS_FILES, ids=lambda p: p.name)
def test_tenants_files_point_editors_at_the_schema_and_pass_it(path, validator):
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_LINE
    assert list(validator.iter_errors(yaml.safe_load(text))) == []


@pytest.mark.parametrize("name", VALID_FILES)
def test_files_the_program_accepts_pass_the_schema(name, validator):
    assert list(validator.iter_errors(yaml.safe_load(textwrap.dedent(VALID_FILES[name])))) == []


TENANT = {"name": "a"}
FIELD_MISTAKES = {
    "unknown-key": {"tenants": [{**TENANT, "gatway": {}}]},
    "name-not-dns-label": {"tenants": [{"name": "Team_A"}]},
    "name-too-long": {"tenants": [{"name": "a" * 64}]},
    "gateway-name-not-a-service-name": {"tenants": [{**TENANT, "gateway": {"name": "1gw"}}]},
    "port-out-of-range": {"tenants": [{**TENANT, "gateway": {"servers": [{"port": 70000}]}}]},
    "port-as-string": {"tenants": [{**TENANT, "gateway": {"servers": [{"port": "80"}]}}]},
    "protocol-unknown": {"tenants": [{**TENANT, "gateway": {"servers": [{"port": 80, "protocol": "http"}]}}]},
    "https-without-tls": {"tenants": [{**TENANT, "gateway": {"servers": [{"port": 443, "protocol": "HTTPS"}]}}]},
    "simple-without-credential": {
        "tenants": [{**TENANT, "gateway": {"servers": [{"port": 443, "protocol": "HTTPS", "tls": {"mode": "SIMPLE"}}]}}]
    },
    "passthrough-with-credential": {
        "tenants": [{**TENANT, "gateway": {"servers": [
            {"port": 443, "protocol": "TLS", "tls": {"mode": "PASSTHROUGH", "credentialName": "a-tls"}}
        ]}}]
    },
    "tls-on-http": {
        "tenants": [{**TENANT, "gateway": {"servers": [{"port": 80, "tls": {"mode": "SIMPLE", "credentialName": "a-tls"}}]}}]
    },
    "label-key-invalid": {"tenants": [{**TENANT, "gateway": {"labels": {"my app": "x"}}}]},
    "label-value-not-a-string": {"tenants": [{**TENANT, "gateway": {"labels": {"istio": 2}}}]},
    "labels-empty": {"tenants": [{**TENANT, "gateway": {"labels": {}}}]},
    "host-with-scheme": {"tenants": [{**TENANT, "gateway": {"servers": [{"port": 80, "hosts": ["https://a.example.com"]}]}}]},
    "host-with-port": {"tenants": [{**TENANT, "gateway": {"servers": [{"port": 80, "hosts": ["a.example.com:80"]}]}}]},
    "route-host-with-namespace": {
        "tenants": [{**TENANT, "routes": [{"name": "r", "hosts": ["./a.example.com"], "http": [{"to": {"service": "s", "port": 80}}]}]}]
    },
    "match-two-kinds": {
        "tenants": [{**TENANT, "routes": [{"name": "r", "http": [{"match": [{"exact": "/a", "prefix": "/b"}], "to": {"service": "s", "port": 80}}]}]}]
    },
    "match-not-a-path": {
        "tenants": [{**TENANT, "routes": [{"name": "r", "http": [{"match": [{"prefix": "api"}], "to": {"service": "s", "port": 80}}]}]}]
    },
    "route-of-two-kinds": {
        "tenants": [{**TENANT, "routes": [{"name": "r", "http": [{"to": {"service": "s", "port": 80}}], "tcp": {"to": {"service": "s", "port": 80}}}]}]
    },
    "route-of-no-kind": {"tenants": [{**TENANT, "routes": [{"name": "r"}]}]},
    "service-type-unknown": {"tenants": [{**TENANT, "gateway": {"service": {"type": "Internal"}}}]},
    "annotation-not-a-string": {"tenants": [{**TENANT, "gateway": {"service": {"annotations": {"example.com/weight": 3}}}}]},
    "api-unknown": {"tenants": [{**TENANT, "gateway": {"api": "ingress"}}]},
    "boolean-as-string": {"tenants": [{**TENANT, "decommission": "yes"}]},
    "profile-typo": {"controlPlane": {"profile": "defualt"}},
    "quota-not-a-quantity": {"tenants": [{**TENANT, "quota": {"cpu": "lots"}}]},
    "tenants-not-a-list": {"tenants": {"name": "a"}},
}


@pytest.mark.parametrize("name", FIELD_MISTAKES)
def test_field_mistakes_are_caught_by_editor_and_program_alike(name, validator):
    document = FIELD_MISTAKES[name]
    assert list(validator.iter_errors(document)), "the schema accepts it"
    with pytest.raises(ConfigError):
        parse_tenants(yaml.safe_dump(document), "tenants.yaml")
