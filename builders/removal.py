"""A removed tenant's retained namespace: what `pulumi up` ends there, and when adding the tenant
back needs `adopt: true`. Pure decisions on the objects the cluster holds; components/tenant_removal.py
reads and writes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from tenants.errors import Problem

from .meta import TENANT_LABEL

# Set on the namespace when its tenant leaves the file: adding the tenant back then needs `adopt: true`.
REMOVED_ANNOTATION = "istio-multitenancy.io/removed"

# The workloads a tenant admin may create that keep pods running: scaled to zero, or suspended.
SCALED = ("Deployment", "StatefulSet", "ReplicaSet")
SUSPENDED = ("CronJob", "Job")
WORKLOAD_KINDS = (*SCALED, *SUSPENDED)
# What a removal reads in the namespace.
RESOURCE_KINDS = ("RoleBinding", *WORKLOAD_KINDS)


@dataclass(frozen=True)
class Action:
    """One write in the namespace: delete the object, or merge `patch` into it."""

    kind: str
    name: str
    patch: Optional[dict] = None  # None: delete

    def __str__(self) -> str:
        return f"{'patch' if self.patch else 'delete'} {self.kind} {self.name}"


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def _platforms(obj: dict) -> bool:
    """The platform's objects carry the tenant label (builders/meta.py); Pulumi deletes those itself."""
    return TENANT_LABEL in _labels(obj)


def _finished(job: dict) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def _owned(obj: dict) -> bool:
    return bool((obj.get("metadata") or {}).get("ownerReferences"))


def teardown(objects: Mapping[str, list[dict]]) -> list[Action]:
    """What ends a removed tenant's foothold, given its namespace's objects by kind: the RoleBindings
    it created are deleted (the platform's carry the tenant label), its Deployments, StatefulSets and
    ReplicaSets of its own scaled to zero, its CronJobs and unfinished Jobs suspended (a suspended
    Job's pods are deleted). Objects already stopped are left alone, so a second run writes nothing."""
    actions = []
    for binding in objects.get("RoleBinding", []):
        if not _platforms(binding):
            actions.append(Action("RoleBinding", binding["metadata"]["name"]))
    for kind in SCALED:
        for obj in objects.get(kind, []):
            # A Deployment's ReplicaSets follow their Deployment.
            if _platforms(obj) or (kind == "ReplicaSet" and _owned(obj)):
                continue
            if (obj.get("spec") or {}).get("replicas", 1) != 0:
                actions.append(Action(kind, obj["metadata"]["name"], {"spec": {"replicas": 0}}))
    for kind in SUSPENDED:
        for obj in objects.get(kind, []):
            if _platforms(obj) or (obj.get("spec") or {}).get("suspend") or (kind == "Job" and _finished(obj)):
                continue
            actions.append(Action(kind, obj["metadata"]["name"], {"spec": {"suspend": True}}))
    return actions


def still_listed(namespace: str, tenant: str, params: Optional[Mapping[str, str]]) -> bool:
    """Whether the live admission parameters (builders/admission.py) list `tenant` in `namespace`:
    then the tenant is in the platform's file (moved to another stack's shard, not removed)."""
    return (params or {}).get(f"{namespace}.tenant") == tenant


def retained(namespace: Optional[dict], params: Optional[Mapping[str, str]]) -> bool:
    """Whether a live namespace is a removed tenant's, retained: marked by the removal, or labelled
    as a tenant's that the live admission parameters no longer list (removed before the mark existed)."""
    if namespace is None:
        return False
    meta = namespace.get("metadata") or {}
    if REMOVED_ANNOTATION in (meta.get("annotations") or {}):
        return True
    owner = (meta.get("labels") or {}).get(TENANT_LABEL)
    return owner is not None and not still_listed(meta["name"], owner, params)


def adopt_problem(tenants_file: str, tenant: str, namespace: str) -> Problem:
    return Problem(
        tenants_file, None, f"tenants[{tenant}].adopt",
        f"namespace {namespace} is still in the cluster, retained from a removed tenant with whatever it left there "
        f"(RoleBindings, Secrets, workloads); set `adopt: true` on tenant {tenant} to take it over as it is, "
        f"or delete the namespace first",
    )
