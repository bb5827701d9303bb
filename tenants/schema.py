"""`python -m tenants.schema [--check]`: write (or check) tenants/schema.json from the typed model.

Editors read the schema through the `# yaml-language-server: $schema=./schema.json` line of a
tenants file; it carries every field's camelCase name, description and default. Draft-07,
the draft editors support best.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from .model import TenantsFile

SCHEMA_PATH = Path(__file__).with_name("schema.json")
DRAFT = "http://json-schema.org/draft-07/schema#"


class _WithFactoryDefaults(GenerateJsonSchema):
    """Shows the defaults of fields built by a factory (lists, sub-objects) too, as YAML would spell them."""

    def get_default_value(self, schema: Any) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()
        return super().get_default_value(schema)

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, BaseModel):
            return dft.model_dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(dft, list):
            return [self.encode_default(item) for item in dft]
        return super().encode_default(dft)


def _for_editors(node: Any) -> Any:
    """Drop the titles pydantic derives from property names ("Credential Name", noise beside the
    description), and move a `$ref` that has siblings into `allOf`: draft-07 ignores a `$ref`'s
    siblings, and editors would lose the field's description and default."""
    if isinstance(node, list):
        return [_for_editors(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _for_editors(value) for key, value in node.items()}
    for prop in (out.get("properties") or {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    if "$ref" in out and len(out) > 1:
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def tenants_schema() -> dict:
    schema = TenantsFile.model_json_schema(by_alias=True, schema_generator=_WithFactoryDefaults)
    return {"$schema": DRAFT, **_for_editors(schema)}


def schema_text() -> str:
    return json.dumps(tenants_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = schema_text()
    if argv == ["--check"]:
        if SCHEMA_PATH.exists() and SCHEMA_PATH.read_text(encoding="utf-8") == text:
            return 0
        print(f"{SCHEMA_PATH.name} is out of date with tenants/model.py: run `make schema`", file=sys.stderr)
        return 1
    if argv:
        print("usage: python -m tenants.schema [--check]", file=sys.stderr)
        return 2
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
