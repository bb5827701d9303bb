"""TenantRemoval: a tenant's stay in the cluster as the engine sees it, a Pulumi dynamic resource.

Nothing of it is a Kubernetes object: the engine calls `check` when the tenant is new to the stack
(empty olds), where adding back a removed tenant's retained namespace needs `adopt: true`, and
`delete` when the tenant leaves the file, where the removed tenant's own RoleBindings and
workloads are ended (builders/removal.py decides what). Both talk to the cluster of the stack's
kubernetes provider (the same kubeconfig, from KUBECONFIG or ~/.kube/config, and context) as the
same identity, a platform identity the admission rules exempt (`removed-tenant-frozen` too).

The provider runs in the engine's `pulumi-python` plugin (`python -m pulumi.dynamic` in the
project's virtualenv and directory), unpickled from the state: pickled by reference (this module's
class and the tenants file's name), so it runs this module as the checkout has it.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi.dynamic as dynamic
from pulumi.dynamic import dynamic as dynamic_sdk

from builders.removal import REMOVED_ANNOTATION, RESOURCE_KINDS, Action, adopt_problem, retained, still_listed, teardown

TYPE_MODULE, TYPE_NAME = "istio-multitenancy", "TenantRemoval"
TYPE = f"pulumi-python:dynamic/{TYPE_MODULE}:{TYPE_NAME}"  # as the engine names it
# The inputs; a change to any of them is an update, never a replace (nothing in the cluster is this resource).
INPUTS = ("tenant", "namespace", "context", "paramsNamespace", "paramsName", "keepWorkloads", "adopt")


@dataclass(frozen=True)
class RemovalSite:
    """Where a tenant's removal reads and writes: the stack's kubeconfig context (None: the current
    one), the live admission parameters (builders/admission.py), and the tenants file its errors name."""

    context: Optional[str]
    params_namespace: str
    params_name: str
    tenants_file: str
    keep_workloads: bool = False

    def props(self, tenant: str, namespace: str, adopt: bool) -> dict[str, Any]:
        return {
            "tenant": tenant, "namespace": namespace, "context": self.context,
            "paramsNamespace": self.params_namespace, "paramsName": self.params_name,
            "keepWorkloads": self.keep_workloads, "adopt": adopt,
        }


def _client(context: Optional[str]):
    """An API client for the kubeconfig context (None: the current one), or None when no kubeconfig
    is there to read: the kubernetes provider reports that itself."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        return config.new_client_from_config(context=context or None)
    except (ConfigException, OSError):
        return None


def _cluster_for(props: dict[str, Any]) -> Optional["_Cluster"]:
    """The cluster of `props`' kubeconfig context, or None when no kubeconfig is there to read."""
    api = _client(props.get("context"))
    return _Cluster(api, props) if api is not None else None


class _Cluster:
    """The few reads and writes of a removal, in one namespace."""

    def __init__(self, api, props: dict[str, Any]):
        from kubernetes import client

        self.api, self.props = api, props
        self.core, self.apps = client.CoreV1Api(api), client.AppsV1Api(api)
        self.batch, self.rbac = client.BatchV1Api(api), client.RbacAuthorizationV1Api(api)

    def _plain(self, obj) -> Optional[dict]:
        return None if obj is None else self.api.sanitize_for_serialization(obj)

    def _get(self, call, *args) -> Optional[dict]:
        from kubernetes.client.exceptions import ApiException

        try:
            return self._plain(call(*args))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def namespace(self) -> Optional[dict]:
        return self._get(self.core.read_namespace, self.props["namespace"])

    def params(self) -> Optional[dict[str, str]]:
        """The live admission parameters (builders/admission.py), None before the platform is deployed."""
        cm = self._get(self.core.read_namespaced_config_map, self.props["paramsName"], self.props["paramsNamespace"])
        return None if cm is None else cm.get("data") or {}

    def annotate(self, value: Optional[str]) -> None:
        """Set (or with None remove) the removal mark on the namespace."""
        body = {"metadata": {"annotations": {REMOVED_ANNOTATION: value}}}
        self.core.patch_namespace(self.props["namespace"], body)

    def _calls(self, kind: str):
        """(list, patch, delete) of a kind, in the namespace."""
        api = {"RoleBinding": self.rbac, "CronJob": self.batch, "Job": self.batch}.get(kind, self.apps)
        snake = {"RoleBinding": "role_binding", "StatefulSet": "stateful_set", "ReplicaSet": "replica_set",
                 "CronJob": "cron_job"}.get(kind, kind.lower())
        return (getattr(api, f"list_namespaced_{snake}"), getattr(api, f"patch_namespaced_{snake}"),
                getattr(api, f"delete_namespaced_{snake}"))

    def objects(self, kinds) -> dict[str, list[dict]]:
        ns = self.props["namespace"]
        return {kind: [self._plain(o) for o in self._calls(kind)[0](ns).items] for kind in kinds}

    def apply(self, action: Action) -> None:
        from kubernetes.client.exceptions import ApiException

        _, patch, delete = self._calls(action.kind)
        try:
            if action.patch is None:
                delete(action.name, self.props["namespace"])
            else:
                patch(action.name, self.props["namespace"], action.patch)
        except ApiException as err:
            if err.status != 404:  # gone meanwhile: nothing left to end
                raise


def _unless_unreachable(read) -> tuple:
    """`read()`, or nothing found when the API server cannot be reached: the kubernetes provider
    reports that itself, and no `up` gets past it."""
    from urllib3.exceptions import HTTPError

    try:
        return read()
    except HTTPError:
        return None, None


class TenantRemovalProvider(dynamic.ResourceProvider):
    """The engine's calls for a TenantRemoval (see the module's docstring)."""

    # Nothing secret is captured: the pickled provider stays readable in the state.
    serialize_as_secret_always = False

    def __init__(self, tenants_file: str):
        """`tenants_file`: as the stack names it, for the error message. Held here rather than as an
        input: a path is no setting of the tenant (the render and its diff leave the pickled provider out)."""
        super().__init__()
        self.tenants_file = tenants_file

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = []
        # Only for a tenant new to the stack: the tenants it already holds pass without a look.
        if not olds and not news.get("adopt"):
            cluster = _cluster_for(news)
            if cluster is not None and retained(*_unless_unreachable(lambda: (cluster.namespace(), cluster.params()))):
                problem = adopt_problem(self.tenants_file, news["tenant"], news["namespace"])
                failures.append(dynamic.CheckFailure("adopt", str(problem)))
        return dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in (*INPUTS, "__provider") if olds.get(key) != news.get(key)]
        return dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        if props.get("adopt"):
            cluster = _cluster_for(props)
            namespace = cluster.namespace() if cluster else None
            if cluster and REMOVED_ANNOTATION in ((namespace or {}).get("metadata", {}).get("annotations") or {}):
                cluster.annotate(None)  # taken over: a later removal marks it again
        return dynamic.CreateResult(id_=props["namespace"], outs={k: props.get(k) for k in INPUTS})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs={k: news.get(k) for k in INPUTS})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        cluster = _cluster_for(props)
        if cluster is None:
            raise RuntimeError(f"no kubeconfig to end tenant {props['tenant']}'s foothold in namespace {props['namespace']}")
        # Still in the platform's parameters: the tenant moved (to another shard's stack), or was
        # marked for decommissioning; its namespace is not frozen and stays its own.
        if still_listed(props["namespace"], props["tenant"], cluster.params()):
            return
        # Gone or going (a decommissioned tenant's, deleted before this runs): nothing left to end.
        namespace = cluster.namespace()
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return
        cluster.annotate(props["tenant"])
        if props.get("keepWorkloads"):
            return
        for action in teardown(cluster.objects(RESOURCE_KINDS)):
            cluster.apply(action)


def serialize_each_provider_once() -> None:
    """The SDK pickles a dynamic resource's provider once per resource, and each time wraps the
    pickler's `_batch_setitems` in one more sorting layer it never removes: past about 950 dynamic
    resources in one program the wrappers exceed Python's recursion limit (the 1,000-tenant render
    failed so), and every pickle before that sorts once per layer. Here the SDK's serializer runs
    once per distinct provider (same class, same fields: the same pickle), with the pickler put back
    as it was after each run."""
    original = dynamic_sdk.serialize_provider
    if getattr(original, "once_per_provider", False):
        return
    pickled: dict[tuple, str] = {}

    def serialize(provider: dynamic.ResourceProvider) -> str:
        key = (type(provider), tuple(sorted(vars(provider).items())))
        if key not in pickled:
            saved = pickle._Pickler._batch_setitems, pickle._Pickler.save_dict  # type: ignore[attr-defined]
            try:
                pickled[key] = original(provider)
            finally:
                pickle._Pickler._batch_setitems, pickle._Pickler.save_dict = saved  # type: ignore[attr-defined]
        return pickled[key]

    serialize.once_per_provider = True  # type: ignore[attr-defined]
    dynamic_sdk.serialize_provider = serialize


class TenantRemoval(dynamic.Resource, module=TYPE_MODULE, name=TYPE_NAME):
    """What happens in the cluster when the tenant leaves the stack, and whether it may join it."""

    def __init__(self, name: str, props: dict[str, Any], tenants_file: str, opts: Optional[pulumi.ResourceOptions] = None):
        missing = set(INPUTS) - set(props)
        assert not missing, f"TenantRemoval needs {sorted(missing)}"
        serialize_each_provider_once()
        super().__init__(TenantRemovalProvider(tenants_file), name, dict(props), opts)
