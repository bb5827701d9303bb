"""`python -m render STACK` in a workspace: the objects and resources the program would apply."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from .procs import run
from .pulumi import Workspace


@dataclass
class Rendered:
    objects: list[dict]
    resources: list[dict]

    @property
    def urns(self) -> set[str]:
        return {r["urn"] for r in self.resources}

    def protected(self) -> set[str]:
        """URNs the program registers with `protect`."""
        return {r["urn"] for r in self.resources if (r.get("options") or {}).get("protect")}


def render(ws: Workspace, stack: str, out: Path) -> Rendered:
    # The stack's config as the workspace has it (the suite's overrides), through the program's
    # own render command: the same code path as `pulumi up`, under the SDK's mock engine. The
    # stack's own resources: a sharded installation's cluster stack holds the platform alone.
    run([sys.executable, "-m", "render", stack, "--out", str(out), "--stack-only"], cwd=str(ws.path), env=ws.env, timeout=300)
    objects = [d for d in yaml.safe_load_all((out / "manifests.yaml").read_text()) if d]
    resources = json.loads((out / "resources.json").read_text())
    return Rendered(objects, resources)


def key(obj: dict) -> tuple[str, str, str | None, str]:
    """(group, kind, namespace, name): what identifies an object in the cluster."""
    group = obj["apiVersion"].rpartition("/")[0]
    return group, obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]
