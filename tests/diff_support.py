"""Renders for `render diff` tests: a stack with its settings and tenants changed, as `python -m render` writes it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import yaml

from render.engine import PROJECT_ROOT, read_stack_config, run_program_file
from render.output import manifests_yaml, resources_json

GOLDEN = Path(__file__).resolve().parent / "golden"


def render_stack(out: Path, stack: str = "dev", tenants: Optional[dict] = None, **settings: str) -> Path:
    """Render `stack` into `out`, with `tenants` (data) instead of its tenants file and `settings` overriding its keys."""
    out.mkdir(parents=True, exist_ok=True)
    config = read_stack_config(stack)
    if tenants is not None:
        path = out / "tenants.yaml"
        path.write_text(yaml.safe_dump(tenants, sort_keys=False), encoding="utf-8")
        config["istio-multitenancy:tenantsFile"] = str(path)
    config.update({f"istio-multitenancy:{key}": value for key, value in settings.items()})
    program = run_program_file(PROJECT_ROOT / "__main__.py", stack, config)
    (out / "manifests.yaml").write_text(manifests_yaml(program), encoding="utf-8")
    (out / "resources.json").write_text(resources_json(program), encoding="utf-8")
    return out


def assert_golden(name: str, text: str) -> None:
    """`text` is tests/golden/<name>.txt; UPDATE_GOLDEN=1 rewrites the file (review its diff before committing)."""
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    expected = path.read_text(encoding="utf-8").rstrip("\n")
    assert text == expected, f"render diff output differs from {path.relative_to(PROJECT_ROOT)} (UPDATE_GOLDEN=1 rewrites it)"
