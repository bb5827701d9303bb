"""Turn a plain Kubernetes object (a dict from `builders`) into the matching pulumi-kubernetes resource."""

from __future__ import annotations

import re
from typing import Any, Callable

import pulumi
import pulumi_kubernetes as k8s

# Built-in kinds go through their typed classes (so previews show the real types and the
# provider applies their await logic); everything else is a CustomResource.
_TYPED = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ResourceQuota"): k8s.core.v1.ResourceQuota,
    ("v1", "LimitRange"): k8s.core.v1.LimitRange,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): k8s.apiextensions.v1.CustomResourceDefinition,
}

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def declare(obj: dict, name: str, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """Register `obj` under the logical name `name`."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    fields = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    typed = _TYPED.get((api_version, kind))
    if typed is None:
        return k8s.apiextensions.CustomResource(name, api_version=api_version, kind=kind, opts=opts, **fields)
    return typed(name, opts=opts, **{_CAMEL.sub("_", key).lower(): value for key, value in fields.items()})


def child_declarer(parent: pulumi.Resource, scope: str, provider: pulumi.ProviderResource) -> Callable[..., pulumi.CustomResource]:
    """`add(obj, depends_on, **options)` for a component's objects, named `<scope>/<object name>`.

    The scope is the component's own name, so a component alias carries over to every child.
    """

    def add(obj: dict, depends_on: list, **options: Any) -> pulumi.CustomResource:
        resource_options = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on, **options)
        return declare(obj, f"{scope}/{obj['metadata']['name']}", resource_options)

    return add
