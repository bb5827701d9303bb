"""Object skeletons and the labels every builder shares."""

from __future__ import annotations

from typing import Any, Optional

# The labels live with the rules that read them (rules/ sits below builders/); re-exported here.
from rules.labels import MESH_LABEL, NAMESPACE_NAME_LABEL, TENANT_LABEL  # noqa: F401

MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "istio-multitenancy"}

# pulumi-kubernetes (>= 4.18.4) waits on this before creating dependants: the operator
# reconciles asynchronously, and Istio's CRDs and gateways exist only once it reports HEALTHY.
WAIT_FOR_HEALTHY = {"pulumi.com/waitFor": "jsonpath={.status.status}=HEALTHY"}
# pulumi-kubernetes waits on a few kinds until the cluster reports them ready (Deployments, Services,
# ServiceAccounts, ResourceQuotas: the provider's `await` table); this skips that wait, for an
# object nothing in the program depends on. Never on istiod or a gateway, which later steps need running.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}


def k8s_object(
    api_version: str,
    kind: str,
    name: str,
    namespace: Optional[str] = None,
    labels: Optional[dict[str, str]] = None,
    annotations: Optional[dict[str, str]] = None,
    **body: Any,
) -> dict:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **body}


def tenant_labels(tenant_name: str) -> dict[str, str]:
    return {**MANAGED_BY, TENANT_LABEL: tenant_name}


def namespace(name: str, labels: dict[str, str]) -> dict:
    return k8s_object("v1", "Namespace", name, labels=labels)


def resource_type(api_version: str, kind: str) -> str:
    """The pulumi-kubernetes type of an object: `kubernetes:<group>/<version>:<kind>`, the core group spelt `core`."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


def namespace_peer(name: str) -> dict:
    """A NetworkPolicy peer: the pods of namespace `name`, by the label nobody can forge."""
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: name}}}
