"""The Pulumi CLI run the way a user runs it: from a copy of the project, with a local backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from .procs import Result, run

# The project's own folders a user's checkout has; the rest (virtualenvs, builds, caches, this
# suite) is not part of what `pulumi up` runs.
_NOT_COPIED = {".git", ".venv", "build", "e2e", "__pycache__", ".pytest_cache", ".hypothesis", ".ci", ".github"}
NAMESPACE = "istio-multitenancy"


@dataclass
class Workspace:
    """A copy of the project at `path`, its own file backend, and the environment Pulumi runs in."""

    source: Path
    path: Path
    env: dict
    pulumi: str

    @classmethod
    def create(cls, source: Path, path: Path, env: dict, pulumi: str, provider_dir: Optional[Path]) -> "Workspace":
        if path.exists():
            shutil.rmtree(path)
        shutil.copytree(source, path / "project", ignore=lambda d, names: [n for n in names if n in _NOT_COPIED])
        project = path / "project"
        # The program's and the policy pack's virtualenvs, as `make` made them in the checkout.
        (project / ".venv").symlink_to(source / ".venv")
        (project / "policy" / ".venv").symlink_to(source / "policy" / ".venv")
        if provider_dir is not None:
            # The provider binary from `make e2e-tools`, for any version the SDK asks for: never
            # downloaded (automatic plugin acquisition is off, so anything missing fails loudly).
            doc = yaml.safe_load((project / "Pulumi.yaml").read_text())
            doc.setdefault("plugins", {})["providers"] = [{"name": "kubernetes", "path": str(provider_dir)}]
            (project / "Pulumi.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        state = path / "state"
        state.mkdir()
        env = {**env, "PULUMI_BACKEND_URL": f"file://{state}"}
        return cls(source=source, path=project, env=env, pulumi=pulumi)

    def __call__(self, *args: str, check: bool = True, timeout: float = 900, input: Optional[str] = None, env: Optional[dict] = None) -> Result:
        return run([self.pulumi, *args], env={**self.env, **(env or {})}, cwd=str(self.path), check=check, timeout=timeout, input=input)

    def popen(self, *args: str, log: Path) -> subprocess.Popen:
        """A CLI run to interrupt: its own process group, output into `log`."""
        with open(log, "w") as out:
            return subprocess.Popen(
                [self.pulumi, *args], env=self.env, cwd=str(self.path), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    # --- stacks ------------------------------------------------------------------------------

    def write_stack_config(self, stack: str, overrides: dict) -> None:
        """`Pulumi.<stack>.yaml` of the project with `overrides` (keys without the project prefix)."""
        original = self.source / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(original.read_text()) if original.exists() else {}
        config = dict(doc.get("config") or {})
        for key, value in overrides.items():
            config[f"{NAMESPACE}:{key}"] = value
        (self.path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))

    def set_tenants_values(self, stack: str, values: dict) -> None:
        """Set dotted keys (`observability.chartDirectory`) in the copy's tenants file of `stack`."""
        if not values:
            return
        path = self.tenants_path(stack)
        doc = yaml.safe_load(path.read_text())
        for dotted, value in values.items():
            *parents, last = dotted.split(".")
            node = doc
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def config_value(self, stack: str, key: str) -> Optional[str]:
        doc = yaml.safe_load((self.path / f"Pulumi.{stack}.yaml").read_text())
        return (doc.get("config") or {}).get(f"{NAMESPACE}:{key}")

    def set_config_value(self, stack: str, key: str, value) -> None:
        """Set one setting (a key without the project prefix) in the copy's `Pulumi.<stack>.yaml`,
        keeping the others (write_stack_config starts again from the project's own file)."""
        path = self.path / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc.setdefault("config", {})[f"{NAMESPACE}:{key}"] = value
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def tenants_path(self, stack: str) -> Path:
        value = self.config_value(stack, "tenantsFile") or f"tenants/{stack}.yaml"
        path = Path(value)
        return path if path.is_absolute() else self.path / path

    # --- commands ----------------------------------------------------------------------------

    def up(self, stack: str, *extra: str, check: bool = True, timeout: float = 900, env: Optional[dict] = None) -> Result:
        return self("up", "--stack", stack, "--yes", "--skip-preview", "--non-interactive", "--color=never", *extra, check=check, timeout=timeout, env=env)

    def preview(self, stack: str, *extra: str, check: bool = True, timeout: float = 600) -> Result:
        return self("preview", "--stack", stack, "--non-interactive", "--color=never", *extra, check=check, timeout=timeout)

    def preview_json(self, stack: str, *extra: str) -> dict:
        """The engine's plan: `steps` (op, urn, type), `changeSummary`, `diagnostics`."""
        result = self.preview(stack, "--json", *extra)
        return json.loads(result.stdout)

    def refresh(self, stack: str, *extra: str, check: bool = True) -> Result:
        return self("refresh", "--stack", stack, "--yes", "--skip-preview", "--non-interactive", "--color=never", *extra, check=check)

    def destroy(self, stack: str, *extra: str, check: bool = True, preview: bool = False) -> Result:
        """`preview`: as a user runs it (the preview first, then the destroy once it is confirmed)."""
        skip = [] if preview else ["--skip-preview"]
        return self("destroy", "--stack", stack, "--yes", *skip, "--non-interactive", "--color=never", *extra, check=check)

    def export(self, stack: str) -> list[dict]:
        """The resources the state holds (`pulumi stack export`)."""
        doc = json.loads(self("stack", "export", "--stack", stack).stdout)
        return doc["deployment"].get("resources") or []

    def pending_operations(self, stack: str) -> list[dict]:
        doc = json.loads(self("stack", "export", "--stack", stack).stdout)
        return doc["deployment"].get("pending_operations") or []

    def outputs(self, stack: str) -> dict:
        return json.loads(self("stack", "output", "--stack", stack, "--json").stdout)


def kubernetes_resources(resources: list[dict]) -> list[dict]:
    """Resources of the state that are Kubernetes objects (not components, providers or the stack)."""
    return [r for r in resources if r.get("custom") and r["type"].startswith("kubernetes:") and not r["type"].startswith("pulumi:providers:")]


def identity(resource: dict) -> tuple[str, Optional[str], str]:
    """(kind, namespace, name) of a Kubernetes resource in the state."""
    meta = resource["outputs"]["metadata"]
    return resource["outputs"]["kind"], meta.get("namespace"), meta["name"]


def environment(base: dict, bin_dir: Optional[Path], home: Path, kubeconfig: Path) -> dict:
    env = {k: v for k, v in base.items() if not k.startswith("PULUMI_")}
    if bin_dir is not None:
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env.update(
        PULUMI_HOME=str(home),
        PULUMI_CONFIG_PASSPHRASE=base.get("PULUMI_CONFIG_PASSPHRASE", "e2e-only-not-a-secret"),
        PULUMI_SKIP_UPDATE_CHECK="1",
        PULUMI_SKIP_CONFIRMATIONS="true",
        KUBECONFIG=str(kubeconfig),
    )
    return env
