"""Removing a tenant on the real API server (issue 17): `pulumi up` ends what the tenant created in
its retained namespace (its own RoleBindings deleted, its workloads scaled to zero or suspended)
unless the file says `removal: {keepWorkloads: true}`, and adding the tenant back fails the
preview until the file says `adopt: true`. What the tenants create, they create as their admins
(impersonation), as a hostile tenant would; the dev stack on the Helm path, with a small file."""

from __future__ import annotations

import pytest
import yaml

from harness.render import render

from conftest import BUILD

STACK = "dev"
ENDED, KEPT, STAYS = "leaver", "keeper", "stayer"
ADMINS = {ENDED: "ann@example.com", KEPT: "kim@example.com"}


def _tenant(name: str, **extra) -> dict:
    admins = {"admins": {"users": [ADMINS[name]]}} if name in ADMINS else {}
    return {"name": name, **admins, **extra}


def _file(*tenants: dict) -> dict:
    return {"controlPlane": {"namespace": "istio-system", "profile": "demo"}, "tenants": list(tenants)}


@pytest.fixture(scope="module")
def removal(e2e, stacks, new_workspace, reset_cluster):
    paths = stacks["all"][STACK]
    overrides = {"chartDirectory": paths["chartDirectory"], "gatewayApiCrds": paths["gatewayApiCrds"]}
    ws = new_workspace("removal", STACK, overrides)
    ctx = {"ws": ws, "tenants_file": ws.tenants_path(STACK), "seen": []}
    yield ctx
    reset_cluster([*ctx["seen"], *({"kind": "Namespace", "metadata": {"name": n}} for n in ADMINS)])


def _write(ctx, doc: dict, name: str) -> None:
    ctx["tenants_file"].write_text(yaml.safe_dump(doc, sort_keys=False))
    ctx["seen"].extend(render(ctx["ws"], STACK, BUILD / "render" / f"removal-{name}").objects)


def _as_admin(kube, tenant: str, *args: str, input: str | None = None, check: bool = True):
    return kube(*args, f"--as={ADMINS[tenant]}", "--as-group=system:authenticated", input=input, check=check)


def _workloads(namespace: str) -> list[dict]:
    pod = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "app", "image": "registry.k8s.io/pause:3.10",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "32Mi"}},
        }],
    }
    labels = {"app": "app"}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "friend-reads", "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "friend@example.com"}]},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": namespace},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": namespace},
         "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {**pod, "restartPolicy": "Never"}}}}}},
    ]


def test_tenant_admins_create_their_own_objects(e2e, removal):
    ws = removal["ws"]
    _write(removal, _file(_tenant(STAYS), _tenant(ENDED), _tenant(KEPT, removal={"keepWorkloads": True})), "initial")
    ws.up(STACK)
    for tenant in (ENDED, KEPT):
        _as_admin(e2e.kube, tenant, "create", "-f", "-", input=yaml.safe_dump_all(_workloads(tenant)))
        assert e2e.kube.get("rolebinding", "friend-reads", tenant) is not None


def test_removing_tenants_ends_their_objects_unless_kept(e2e, removal):
    ws, kube = removal["ws"], e2e.kube
    _write(removal, _file(_tenant(STAYS)), "removed")
    result = ws.up(STACK)
    print(f"\npulumi up removing two tenants: {result.seconds:.1f} s")
    # Ended: the tenant's RoleBinding is gone (the platform's too, with the tenant), its Deployment
    # scaled to zero, its CronJob suspended; the namespace stays, marked as a removed tenant's.
    namespace = kube.get("namespace", ENDED)
    assert namespace is not None and namespace["status"]["phase"] == "Active"
    assert namespace["metadata"]["annotations"]["istio-multitenancy.io/removed"] == ENDED
    assert kube.list("rolebindings", ENDED, selector="!istio-multitenancy.io/tenant") == []
    assert kube.get("rolebinding", "tenant-admins", ENDED) is None
    assert kube.get("deployment", "app", ENDED)["spec"]["replicas"] == 0
    assert kube.get("cronjob", "nightly", ENDED)["spec"]["suspend"] is True
    # Kept (removal.keepWorkloads): as the tenant left them, frozen by admission.
    kept = kube.get("namespace", KEPT)
    assert kept["metadata"]["annotations"]["istio-multitenancy.io/removed"] == KEPT
    assert kube.get("rolebinding", "friend-reads", KEPT) is not None
    assert kube.get("deployment", "app", KEPT)["spec"]["replicas"] == 2
    assert not kube.get("cronjob", "nightly", KEPT)["spec"].get("suspend")
    # The tenant that stays kept everything; a second run has nothing left to do.
    assert kube.get("namespace", STAYS)["metadata"].get("annotations", {}).get("istio-multitenancy.io/removed") is None
    ws.preview(STACK, "--expect-no-changes")


def test_adding_a_removed_tenant_back_needs_adopt(e2e, removal):
    ws = removal["ws"]
    _write(removal, _file(_tenant(STAYS), _tenant(ENDED)), "readded")
    result = ws.preview(STACK, check=False)
    output = result.stdout + result.stderr
    print(f"\n{output[-5000:]}")
    assert result.returncode != 0
    assert f"tenants/{STACK}.yaml: tenants[{ENDED}].adopt: namespace {ENDED} is still in the cluster" in output
    assert "Traceback" not in output
    # Nothing was touched: the namespace is still frozen, and the tenant's parameters absent.
    params = e2e.kube.get("configmap", "istio-multitenancy-tenants", "istio-system")
    assert f"{ENDED}.tenant" not in params["data"]


def test_adopt_takes_the_namespace_over(e2e, removal):
    ws, kube = removal["ws"], e2e.kube
    _write(removal, _file(_tenant(STAYS), _tenant(ENDED, adopt=True)), "adopted")
    ws.up(STACK)
    namespace = kube.get("namespace", ENDED)
    assert "istio-multitenancy.io/removed" not in (namespace["metadata"].get("annotations") or {})
    managers = {m.get("manager", "") for m in namespace["metadata"].get("managedFields", [])}
    assert any(m.startswith("pulumi-kubernetes") for m in managers)
    assert kube.get("configmap", "istio-multitenancy-tenants", "istio-system")["data"][f"{ENDED}.tenant"] == ENDED
    assert kube.get("rolebinding", "tenant-admins", ENDED) is not None
    # The tenant's admin writes there again (the freeze is lifted); what was ended stays ended.
    _as_admin(kube, ENDED, "scale", "deployment/app", "--replicas=1", "-n", ENDED)
    ws.preview(STACK, "--expect-no-changes")
