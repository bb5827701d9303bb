"""A removed tenant's retained namespace (issue 17): what `pulumi up` ends there, when adding the
tenant back needs `adopt: true`, and the TenantRemoval each tenant registers. The cluster side runs
on the real API server in e2e/tests/test_9_removal.py; here the decisions and the registration."""

from __future__ import annotations

import base64
import pickle
import sys
from pathlib import Path

import dill
import pytest
from pulumi.dynamic import dynamic as dynamic_sdk
import yaml

import components.tenant_removal as removal_module
from builders.meta import TENANT_LABEL
from builders.removal import REMOVED_ANNOTATION, Action, adopt_problem, retained, still_listed, teardown
from components.tenant_removal import INPUTS, TYPE, TenantRemovalProvider
from render import diff as diff_module
from render.diff import compare, load_render
from tests.diff_support import render_stack
from tests.support import registration_of, run


def _obj(kind: str, name: str, labels=None, owners=None, **body) -> dict:
    meta = {"name": name, **({"labels": labels} if labels else {}), **({"ownerReferences": owners} if owners else {})}
    return {"kind": kind, "metadata": meta, **body}


# --- what a removal ends ----------------------------------------------------------------------


def test_teardown_ends_the_tenants_own_objects_and_leaves_the_platforms():
    platform = {TENANT_LABEL: "leaver"}
    objects = {
        "RoleBinding": [_obj("RoleBinding", "friend-reads"), _obj("RoleBinding", "tenant-admins", platform)],
        "Deployment": [_obj("Deployment", "app", spec={"replicas": 3}), _obj("Deployment", "defaulted", spec={}),
                       _obj("Deployment", "gateway", platform, spec={"replicas": 1})],
        "StatefulSet": [_obj("StatefulSet", "db", spec={"replicas": 1})],
        "ReplicaSet": [_obj("ReplicaSet", "app-5d9", owners=[{"kind": "Deployment", "name": "app"}], spec={"replicas": 3}),
                       _obj("ReplicaSet", "bare", spec={"replicas": 2})],
        "CronJob": [_obj("CronJob", "nightly", spec={"schedule": "0 3 * * *"})],
        "Job": [_obj("Job", "running", spec={}), _obj("Job", "done", spec={}, status={"conditions": [{"type": "Complete", "status": "True"}]})],
    }
    zero, suspend = {"spec": {"replicas": 0}}, {"spec": {"suspend": True}}
    assert teardown(objects) == [
        Action("RoleBinding", "friend-reads"),
        Action("Deployment", "app", zero), Action("Deployment", "defaulted", zero),  # no replicas field: 1
        Action("StatefulSet", "db", zero),
        Action("ReplicaSet", "bare", zero),  # a Deployment's ReplicaSet follows its Deployment
        Action("CronJob", "nightly", suspend),
        Action("Job", "running", suspend),
    ]


def test_teardown_of_stopped_objects_writes_nothing():
    objects = {
        "Deployment": [_obj("Deployment", "app", spec={"replicas": 0})],
        "CronJob": [_obj("CronJob", "nightly", spec={"suspend": True})],
        "Job": [_obj("Job", "failed", spec={}, status={"conditions": [{"type": "Failed", "status": "True"}]})],
    }
    assert teardown(objects) == []


# --- when adding a tenant back needs adopt ------------------------------------------------------


def _namespace(name: str, tenant=None, marked=False) -> dict:
    meta = {"name": name, "labels": {TENANT_LABEL: tenant} if tenant else {}}
    if marked:
        meta["annotations"] = {REMOVED_ANNOTATION: tenant}
    return {"metadata": meta}


@pytest.mark.parametrize(
    "namespace, params, expected",
    [
        (None, {}, False),  # nothing there: a new tenant
        (_namespace("ws"), {}, False),  # someone else's namespace: not a tenant's (the create decides)
        (_namespace("ws", "ws"), {"ws.tenant": "ws"}, False),  # a tenant the platform lists (an upgrade, a shard move)
        (_namespace("ws", "ws"), {"other.tenant": "other"}, True),  # frozen: removed before the mark existed
        (_namespace("ws", "ws"), None, True),  # no parameters at all: the platform was destroyed, the namespace retained
        (_namespace("ws", "ws", marked=True), {"ws.tenant": "ws"}, True),  # marked by its removal, whatever the params say
        (_namespace("ws", "old"), {"ws.tenant": "ws"}, True),  # another tenant's retained namespace
    ],
)
def test_retained_namespaces(namespace, params, expected):
    assert retained(namespace, params) is expected


def test_still_listed_reads_the_tenant_key_of_the_namespace():
    assert still_listed("ns", "t", {"ns.tenant": "t"})
    assert not still_listed("ns", "t", {"ns.tenant": "u"})
    assert not still_listed("ns", "t", None)


def test_the_adopt_error_names_the_file_the_tenant_and_the_field():
    assert str(adopt_problem("tenants/dev.yaml", "ws", "ws-ns")).startswith(
        "tenants/dev.yaml: tenants[ws].adopt: namespace ws-ns is still in the cluster, retained from a removed tenant"
    )


# --- the provider's decisions, on a stand-in cluster --------------------------------------------


class FakeCluster:
    """What components.tenant_removal._Cluster reads and writes, in memory."""

    def __init__(self, namespace, params, objects=None):
        self.ns, self.data, self.objs, self.writes = namespace, params, objects or {}, []

    def __call__(self, api, props):
        self.props = props
        return self

    def namespace(self):
        return self.ns

    def params(self):
        return self.data

    def annotate(self, value):
        self.writes.append(("annotate", value))

    def objects(self, kinds):
        return {k: self.objs.get(k, []) for k in kinds}

    def apply(self, action):
        self.writes.append(str(action))


def _props(**changes) -> dict:
    props = {"tenant": "ws", "namespace": "ws", "context": "kind-dev",
             "paramsNamespace": "istio-system", "paramsName": "istio-multitenancy-tenants", "keepWorkloads": False, "adopt": False}
    return {**props, **changes}


@pytest.fixture
def cluster(monkeypatch):
    def install(fake: FakeCluster) -> FakeCluster:
        monkeypatch.setattr(removal_module, "_client", lambda context: object())
        monkeypatch.setattr(removal_module, "_Cluster", fake)
        return fake

    return install


def test_check_refuses_a_retained_namespace_for_a_tenant_new_to_the_stack(cluster):
    cluster(FakeCluster(_namespace("ws", "ws", marked=True), {}))
    provider = TenantRemovalProvider("tenants/dev.yaml")
    (failure,) = provider.check({}, _props()).failures
    assert failure.property == "adopt" and failure.reason.startswith("tenants/dev.yaml: tenants[ws].adopt: namespace ws")
    assert provider.check({}, _props(adopt=True)).failures == []
    # A tenant the stack already holds is never looked up again.
    assert provider.check(_props(), _props()).failures == []


def test_delete_marks_and_ends_unless_kept(cluster):
    objects = {"RoleBinding": [_obj("RoleBinding", "friend-reads")], "Deployment": [_obj("Deployment", "app", spec={"replicas": 2})]}
    fake = cluster(FakeCluster(_namespace("ws", "ws"), {}, objects))
    TenantRemovalProvider("tenants/dev.yaml").delete("ws", _props())
    assert fake.writes == [("annotate", "ws"), "delete RoleBinding friend-reads", "patch Deployment app"]
    kept = cluster(FakeCluster(_namespace("ws", "ws"), {}, objects))
    TenantRemovalProvider("tenants/dev.yaml").delete("ws", _props(keepWorkloads=True))
    assert kept.writes == [("annotate", "ws")]


def test_delete_of_a_tenant_still_listed_touches_nothing(cluster):
    fake = cluster(FakeCluster(_namespace("ws", "ws"), {"ws.tenant": "ws"}, {"RoleBinding": [_obj("RoleBinding", "x")]}))
    TenantRemovalProvider("tenants/dev.yaml").delete("ws", _props())
    assert fake.writes == []


@pytest.mark.parametrize("namespace", [None, {"metadata": {"name": "ws", "deletionTimestamp": "2026-12-07T08:00:00Z"}}])
def test_delete_of_a_namespace_gone_or_going_touches_nothing(cluster, namespace):
    fake = cluster(FakeCluster(namespace, {}, {"RoleBinding": [_obj("RoleBinding", "x")]}))
    TenantRemovalProvider("tenants/dev.yaml").delete("ws", _props())
    assert fake.writes == []


def test_create_of_an_adopted_namespace_lifts_the_mark(cluster):
    fake = cluster(FakeCluster(_namespace("ws", "ws", marked=True), {}))
    result = TenantRemovalProvider("tenants/dev.yaml").create(_props(adopt=True))
    assert fake.writes == [("annotate", None)] and result.id == "ws"


# --- the registration, under the mock engine ----------------------------------------------------


def _run(document: dict, tmp_path: Path):
    return run("dev", yaml.safe_dump(document, sort_keys=False), tmp_path)


def _removals(program) -> dict[str, object]:
    return {r.name: r for r in program.registrations if r.type == TYPE}


def test_every_tenant_registers_a_removal(tmp_path):
    document = {
        "removal": {"keepWorkloads": True},
        "tenants": [{"name": "ended", "removal": {"keepWorkloads": False}}, {"name": "kept", "namespace": "kept-ns", "adopt": True},
                    {"name": "leaving", "decommission": True}],
    }
    program = _run(document, tmp_path)
    removals = _removals(program)
    # A decommissioned tenant's too: adding it back needs `adopt` as well (its removal then deletes
    # the namespace, before the TenantRemoval's delete looks and finds nothing to end).
    assert set(removals) == {"ended/removal", "kept/removal", "leaving/removal"}
    ended, kept = removals["ended/removal"], removals["kept/removal"]
    assert ended.parent.endswith("istio-multitenancy:index:TenantMesh::ended") and ended.custom
    assert set(ended.inputs) == set(INPUTS)
    assert ended.inputs == {
        "tenant": "ended", "namespace": "ended", "context": "kind-istio-dev",
        "paramsNamespace": "istio-system", "paramsName": "istio-multitenancy-tenants", "keepWorkloads": False, "adopt": False,
    }
    assert (kept.inputs["namespace"], kept.inputs["keepWorkloads"], kept.inputs["adopt"]) == ("kept-ns", True, True)
    # The namespace waits for it: a refused adoption touches nothing.
    assert ended.urn in registration_of(program, "Namespace", "ended").dependencies
    assert kept.urn in registration_of(program, "Namespace", "kept-ns").dependencies
    assert ended.dependencies == [] and not ended.retain_on_delete


def test_the_render_leaves_out_the_pickled_provider(tmp_path):
    program = _run({"tenants": [{"name": "a"}]}, tmp_path)
    assert "__provider" not in _removals(program)["a/removal"].inputs


# --- what the render diff tells a reviewer ------------------------------------------------------


def test_the_diff_of_a_removal_says_whether_the_tenants_objects_are_ended_or_kept(tmp_path):
    two = {"tenants": [{"name": "a"}, {"name": "b", "removal": {"keepWorkloads": True}}]}
    base = render_stack(tmp_path / "base", tenants=two)
    change = render_stack(tmp_path / "change", tenants={"tenants": [{"name": "x"}]})
    groups = compare(load_render(base), load_render(change)).groups
    assert groups["a"].notes[1].startswith("`pulumi up` deletes the RoleBindings the tenant created")
    assert groups["b"].notes[1].startswith("what the tenant created stays as it is (`removal.keepWorkloads`)")
    assert all("needs `adopt: true`" in groups[t].notes[2] for t in ("a", "b"))
    # The resource the diff reads is the one the program registers.
    assert diff_module.REMOVAL_TYPE == TYPE


def test_each_provider_is_pickled_once_and_the_pickler_left_as_it_was():
    """The SDK's serializer nests one more wrapper around the pickler at every call and fails past
    about 950 dynamic resources (RecursionError: the 1,000-tenant render did): more removals than
    Python's recursion limit must pickle, each the same, and leave the pickler as it was."""
    removal_module.serialize_each_provider_once()
    batch, save_dict = pickle._Pickler._batch_setitems, pickle._Pickler.save_dict
    first = dynamic_sdk.serialize_provider(TenantRemovalProvider("tenants/dev.yaml"))
    for _ in range(sys.getrecursionlimit() + 100):
        assert dynamic_sdk.serialize_provider(TenantRemovalProvider("tenants/dev.yaml")) == first
    other = dynamic_sdk.serialize_provider(TenantRemovalProvider("tenants/prod.yaml"))
    assert other != first
    assert (pickle._Pickler._batch_setitems, pickle._Pickler.save_dict) == (batch, save_dict)
    # What the engine's plugin unpickles is a provider for its own file.
    assert dill.loads(base64.b64decode(other)).tenants_file == "tenants/prod.yaml"
    # Patched once, however many TenantRemovals call it.
    patched = dynamic_sdk.serialize_provider
    removal_module.serialize_each_provider_once()
    assert dynamic_sdk.serialize_provider is patched
