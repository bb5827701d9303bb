"""kubectl against the e2e cluster (or the user's), returning parsed objects."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import yaml

from .procs import Result, run, wait_until


_NO_KIND = "the server doesn't have a resource type"


@dataclass
class Kube:
    kubectl: str
    kubeconfig: Path
    context: str
    env: dict

    def __call__(self, *args: str, input: Optional[str] = None, check: bool = True, timeout: float = 120) -> Result:
        return run(
            [self.kubectl, f"--kubeconfig={self.kubeconfig}", f"--context={self.context}", *args],
            env=self.env,
            input=input,
            check=check,
            timeout=timeout,
        )

    def get(self, kind: str, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        """The live object, or None when it does not exist."""
        ns = ["-n", namespace] if namespace else []
        result = self("get", kind, name, *ns, "-o", "json", "--show-managed-fields", "--ignore-not-found", check=False)
        if result.returncode != 0:
            if _NO_KIND in result.stderr:
                return None  # its CRD is gone, and every object of the kind with it
            raise AssertionError(result.describe())
        return json.loads(result.stdout) if result.stdout.strip() else None

    def list(self, kind: str, namespace: Optional[str] = None, selector: Optional[str] = None) -> list[dict]:
        scope = ["-n", namespace] if namespace else ["-A"]
        sel = ["-l", selector] if selector else []
        result = self("get", kind, *scope, *sel, "-o", "json", "--show-managed-fields", check=False)
        if result.returncode != 0:
            # A kind whose CRD is not installed has no objects.
            if _NO_KIND in result.stderr:
                return []
            raise AssertionError(result.describe())
        return json.loads(result.stdout)["items"]

    def has_kind(self, resource: str) -> bool:
        return self("get", resource, "-A", "-o", "name", check=False).returncode == 0

    def apply(self, objects: Iterable[dict], *, dry_run: bool = False, check: bool = True) -> Result:
        text = yaml.safe_dump_all(list(objects), sort_keys=False)
        flags = ["--server-side", "--field-manager=e2e", "--force-conflicts"]
        if dry_run:
            flags.append("--dry-run=server")
        return self("apply", *flags, "-f", "-", input=text, check=check)

    def delete_namespaces(self, names: Iterable[str], timeout: float = 180) -> None:
        """Delete and wait until gone (the namespace controller empties them first)."""
        names = [n for n in names if self.get("namespace", n)]
        if not names:
            return
        self("delete", "namespace", *names, "--wait=false", "--ignore-not-found")
        wait_until(lambda: not any(self.get("namespace", n) for n in names), timeout, f"namespaces {names} to be deleted")


def uid(obj: Optional[dict]) -> Optional[str]:
    return obj["metadata"]["uid"] if obj else None


def condition(obj: dict, kind: str) -> Optional[str]:
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == kind:
            return c.get("status")
    return None
