"""Turn a plain Kubernetes object (a dict from `builders`) into the matching pulumi-kubernetes resource.

Objects are registered through the SDK's generic `pulumi.CustomResource` under the type
pulumi-kubernetes gives them, with the options its classes add: the engine receives exactly
what the typed classes would send (tests/test_kubernetes_declare.py checks every kind against
its class), without their per-object work (argument translation, option merging, alias
lists) or the import of every class of an API group. A stack of a thousand tenants has some
15,000 objects, so that work was a tenth of the program's time.
"""

from __future__ import annotations

import gc
from typing import Any, Callable

import pulumi

# The version pulumi-kubernetes's own classes put on every resource (its package version as
# semver): the engine picks the provider plugin by it.
from pulumi_kubernetes._utilities import get_version

from builders.meta import resource_type

# Built-in kinds keep their pulumi-kubernetes type (so previews show the real types and the
# provider applies their await logic), and the aliases its typed class declares: the API
# versions the kind was served under before. Everything else is a CustomResource.
_TYPED: dict[tuple[str, str], tuple[str, ...]] = {
    ("v1", "Namespace"): (),
    ("v1", "ServiceAccount"): (),
    ("v1", "Service"): (),
    ("v1", "ResourceQuota"): (),
    ("v1", "LimitRange"): (),
    ("v1", "ConfigMap"): (),
    ("apps/v1", "Deployment"): ("apps/v1beta1", "apps/v1beta2", "extensions/v1beta1"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("rbac.authorization.k8s.io/v1alpha1", "rbac.authorization.k8s.io/v1beta1"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("rbac.authorization.k8s.io/v1alpha1", "rbac.authorization.k8s.io/v1beta1"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rbac.authorization.k8s.io/v1alpha1", "rbac.authorization.k8s.io/v1beta1"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("extensions/v1beta1",),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("apiextensions.k8s.io/v1beta1",),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): (
        "admissionregistration.k8s.io/v1alpha1", "admissionregistration.k8s.io/v1beta1",
    ),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): (
        "admissionregistration.k8s.io/v1alpha1", "admissionregistration.k8s.io/v1beta1",
    ),
}

_VERSION = get_version()


def _aliases(api_version: str, kind: str) -> list[pulumi.Alias]:
    return [pulumi.Alias(type_=resource_type(former, kind)) for former in _TYPED.get((api_version, kind), ())]


def child_declarer(parent: pulumi.Resource, scope: str, provider: pulumi.ProviderResource) -> Callable[..., pulumi.CustomResource]:
    """`add(obj, depends_on, **options)` for a component's objects, named `<scope>/<object name>`.

    The scope is the component's own name, so a component alias carries over to every child.
    """

    def add(obj: dict, depends_on: list, **options: Any) -> pulumi.CustomResource:
        api_version, kind = obj["apiVersion"], obj["kind"]
        resource_options = pulumi.ResourceOptions(
            parent=parent,
            provider=provider,
            depends_on=depends_on,
            version=_VERSION,
            aliases=_aliases(api_version, kind) or None,
            **options,
        )
        return pulumi.CustomResource(resource_type(api_version, kind), f"{scope}/{obj['metadata']['name']}", obj, resource_options)

    return add


# Pulumi keeps every registered resource (its futures, outputs and options) alive until the
# program ends, so the collector's full passes walk an ever larger heap and free nothing: a third
# of a 1,000-tenant run, and what made its time grow faster than the tenant count. Young
# collections still reclaim short-lived cycles; peak memory is unchanged (bench/results.json).
COLLECTOR_THRESHOLDS = (700, 10, 1_000_000)


def collect_young_garbage_only() -> None:
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


def record_call_sites_only() -> None:
    """Each resource's stack trace in the state is its call site alone, not every frame above it.

    The SDK sends the engine every frame between the program's entry point and the resource's
    constructor (13 for a tenant's object: the asyncio loop, the language host, build_stack...),
    and the CLI keeps them in the state: 16 % of a 100-tenant stack's state, which a local
    backend rewrites after every step (docs/scale.md#what-the-state-holds). The call site (the
    resource's `sourcePosition`) is what Pulumi shows; the frames above it are the same for every
    tenant. Walking frames instead of `traceback.extract_stack` also skips reading source lines.
    """
    import sys
    import traceback

    from pulumi.runtime import resource as runtime
    from pulumi.runtime.proto import source_pb2

    def call_site() -> source_pb2.StackTrace:
        # The SDK's rule (pulumi.runtime.resource._get_stack_trace): the caller of the third
        # `__init__` up the stack (Resource's, CustomResource's or ComponentResource's, the class's own).
        frame, inits = sys._getframe(1), 0
        while frame is not None:
            if frame.f_code.co_name == "__init__":
                inits += 1
                if inits == 3:
                    break
            frame = frame.f_back
        caller = frame.f_back if frame is not None else None
        if caller is None:
            return source_pb2.StackTrace()
        summary = traceback.FrameSummary(caller.f_code.co_filename, caller.f_lineno, caller.f_code.co_name, lookup_line=False)
        return source_pb2.StackTrace(frames=[source_pb2.StackFrame(pc=runtime._get_source_position_for_frame(summary))])

    if not hasattr(runtime._get_stack_trace, "sdk"):  # once per process (tests run the program many times)
        call_site.sdk = runtime._get_stack_trace  # type: ignore[attr-defined]
        runtime._get_stack_trace = call_site


def chart_declarer(parent: pulumi.Resource, scope: str, provider: pulumi.ProviderResource) -> Callable[..., pulumi.Resource]:
    """`add_chart(arguments, depends_on)` for a component's Helm charts, named `<scope>/<release name>`.

    `arguments` are a `kubernetes.helm.v4.Chart`'s (builders.helm_values.chart_arguments). Depending
    on the chart waits for every object it renders to be ready: it is a remote component, whose
    registration completes only once its children's have.
    """
    from pulumi_kubernetes.helm.v4 import Chart

    def add_chart(arguments: dict, depends_on: list) -> pulumi.Resource:
        options = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=depends_on)
        return Chart(f"{scope}/{arguments['name']}", opts=options, **arguments)

    return add_chart
