"""The Helm install, as data: validated config in, one release (chart, name, namespace, values) per chart out.

Istio's charts as its Helm install guide uses them: `base` (CRDs, once per cluster), `cni` (the node
agent: pods need no NET_ADMIN), `istiod` and `gateway` (the control plane's ingress gateway and each
tenant's). Every value set here is a key of the chart's values.yaml, or is allowed by its
values.schema.json where it ships one (tests/test_helm_values.py checks both).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from tenants.install import ChartSource, Installation
from tenants.model import ControlPlane, Observability, Tenant
from tenants.rules import CONTROL_PLANE_GATEWAY_LABELS

from .control_plane import observability_servers
from .gateway_api import GATEWAY_CLASS, alpha_gateway_api_env
from .istio import autoscaler_bounds
from .mesh_settings import gateway_chart_pod_security_context, gateway_class_defaults, hardened_pilot_env, istiod_mesh_config
from .meta import SKIP_AWAIT, TENANT_LABEL
from .telemetry import extension_providers
from .tenant import STATUS_PORT, gateway_service_values

# Release names as Istio's Helm install guide gives them.
BASE_RELEASE = "istio-base"
CNI_RELEASE = "istio-cni"
ISTIOD_RELEASE = "istiod"
CONTROL_PLANE_GATEWAY = "istio-ingressgateway"
# The profile Istio applies when none is named: its charts ship no file for it.
DEFAULT_PROFILE = "default"


class ChartRelease(NamedTuple):
    chart: str  # the chart's published name: base, cni, istiod, gateway
    name: str  # the release name (the chart's `.Release.Name`)
    namespace: str
    values: dict


def _profile(cp: ControlPlane) -> dict:
    # Every chart takes the profile: each applies the part of it that concerns it.
    return {} if cp.profile == DEFAULT_PROFILE else {"profile": cp.profile}


def _images(install: Installation) -> dict:
    # Released charts carry the hub and tag of their release; local copies of the source tree carry
    # none, so both are always given: the images are those of `istioVersion`, wherever the chart is from.
    return {"hub": install.image_hub, "tag": install.istio_version}


def base_release(cp: ControlPlane, install: Installation, revisioned: bool = False) -> ChartRelease:
    """`revisioned`: every istiod has a revision (several meshes), so no default revision's
    validation webhook: it would send every unlabelled object to an `istiod` Service none runs."""
    values = {**_profile(cp), "global": {"istioNamespace": cp.namespace}}
    if revisioned:
        values["defaultRevision"] = ""
    return ChartRelease("base", BASE_RELEASE, cp.namespace, values)


def cni_release(cp: ControlPlane, install: Installation) -> ChartRelease:
    """The node agent that sets up each pod's traffic redirection, so sidecars need no NET_ADMIN."""
    values = {**_profile(cp), "global": _images(install)}
    return ChartRelease("cni", CNI_RELEASE, cp.namespace, values)


def mesh_config(cp: ControlPlane, install: Installation) -> dict:
    """The platform control plane's meshConfig: the hardening every install path applies (the
    operator's IstioOperator and Sail's `Istio` get the same, from builders/mesh_settings.py)."""
    return istiod_mesh_config({}, install_extension_providers(install))


def install_extension_providers(install: Installation) -> list[dict]:
    """The add-ons' extension providers, the same on every install path."""
    return extension_providers(install.observability) if install.observability is not None else []


def istiod_release(cp: ControlPlane, install: Installation) -> ChartRelease:
    values: dict = {
        **_profile(cp),
        "global": {**_images(install), "istioNamespace": cp.namespace},
        "env": {**hardened_pilot_env(), **alpha_gateway_api_env(install.gateway_api.alpha)},
        # Injected pods leave traffic redirection to the CNI agent: no istio-init container with
        # NET_ADMIN, which the Pod Security levels of tenant namespaces refuse.
        "cni": {"enabled": True},
        # The gateways istiod deploys for Gateway API tenants run under `restricted` too.
        "gatewayClasses": gateway_class_defaults(GATEWAY_CLASS),
    }
    if cp.replicas.pilot:
        # The demo profile turns istiod's autoscaler off, the others keep it: both counts hold.
        low, high = autoscaler_bounds(cp.replicas.pilot)
        values.update(replicaCount=cp.replicas.pilot, autoscaleMin=low, autoscaleMax=high)
    values["meshConfig"] = mesh_config(cp, install)
    # istiod is awaited on its Deployment (its pods available). The provider's own Service await
    # would add 10 s after its endpoints last change, before every gateway chart (see
    # gateway_service_await). A gateway pod created in the moment before the endpoints are
    # published is refused by the injector (failurePolicy Fail) and recreated by its ReplicaSet,
    # and each gateway's Deployment is awaited until its pods are available.
    values["serviceAnnotations"] = dict(SKIP_AWAIT)
    return ChartRelease("istiod", ISTIOD_RELEASE, cp.namespace, values)


# A LoadBalancer Service is ready once it has an address.
LOAD_BALANCER_ADDRESS = {"pulumi.com/waitFor": "jsonpath={.status.loadBalancer.ingress}"}


def gateway_service_await(service_type: str) -> dict[str, str]:
    """What the provider waits for on a gateway's Service. Its own Service await pauses 10 s after
    every change of the Service's endpoints (pulumi-kubernetes pkg/await/service.go), on the path
    of every gateway's chart and of what follows it (the tenant's Gateway, its quota). The gateway's
    readiness is awaited on its Deployment (its pods available), which keeps the provider's own
    await; the Service waits for its load balancer's address, or for nothing."""
    return dict(LOAD_BALANCER_ADDRESS) if service_type == "LoadBalancer" else dict(SKIP_AWAIT)


def _gateway_values(cp: ControlPlane, name: str, labels: dict[str, str], replicas: Optional[int], service: dict) -> dict:
    # `labels` become the pods' labels (`app` and `istio` also the chart's selector); `name` the
    # Deployment's, Service's and ServiceAccount's. The file's own Service annotations win.
    service = {**service, "annotations": {**gateway_service_await(service["type"]), **service.get("annotations", {})}}
    values: dict = {**_profile(cp), "name": name, "labels": dict(labels), "service": service}
    # The pods pass the `restricted` Pod Security level of tenant namespaces.
    values["securityContext"] = gateway_chart_pod_security_context()
    if replicas:
        low, high = autoscaler_bounds(replicas)
        values["replicaCount"] = replicas
        values["autoscaling"] = {"enabled": True, "minReplicas": low, "maxReplicas": high}
    return values


def control_plane_gateway_service(obs: Observability) -> dict:
    """The control plane's ingress gateway Service: the health port and the observability Gateway's ports."""
    ports = [dict(STATUS_PORT)] + [
        {"name": s["port"]["name"], "port": s["port"]["number"], "targetPort": s["port"]["number"], "protocol": "TCP"}
        for s in observability_servers(obs)
    ]
    return {"type": "LoadBalancer", "ports": ports}


def _with_revision(values: dict, revision: Optional[str]) -> dict:
    # The gateway's pods carry `istio.io/rev`: the revision (or tag) whose istiod injects and configures them.
    return {**values, "revision": revision} if revision else values


def control_plane_gateway_release(cp: ControlPlane, obs: Observability, revision: Optional[str] = None) -> ChartRelease:
    """The platform's own ingress gateway, labelled as Istio's profiles label it (`istio: ingressgateway`)."""
    values = _gateway_values(
        cp, CONTROL_PLANE_GATEWAY, CONTROL_PLANE_GATEWAY_LABELS, cp.replicas.ingress_gateway, control_plane_gateway_service(obs)
    )
    return ChartRelease("gateway", CONTROL_PLANE_GATEWAY, cp.namespace, _with_revision(values, revision))


def tenant_gateway_release(tenant: Tenant, cp: ControlPlane, revision: Optional[str] = None) -> ChartRelease:
    """The tenant's ingress gateway, in its namespace, with its labels (which its `Gateway` selects);
    the tenant label too, so that every object of the chart says whose it is. `revision`: the
    tenant's tag or revision, when its mesh has revisions."""
    labels = {**tenant.gateway_labels, TENANT_LABEL: tenant.name}
    values = _gateway_values(cp, tenant.gateway_name, labels, tenant.gateway.replicas, gateway_service_values(tenant))
    return ChartRelease("gateway", tenant.gateway_name, tenant.namespace_name, _with_revision(values, revision))


def chart_arguments(source: ChartSource, release: ChartRelease) -> dict:
    """The `kubernetes.helm.v4.Chart` arguments of a release: where its chart is, and what to render.

    Its objects are named after their own namespace and name (no prefix): unique in the cluster,
    and unchanged when the tenant or component holding the chart is renamed.
    """
    args: dict = {"name": release.name, "namespace": release.namespace, "values": release.values, "resource_prefix": ""}
    if source.directory is not None:
        # A local chart has no version to choose: it is the one in the directory.
        args["chart"] = f"{source.directory.rstrip('/')}/{release.chart}"
    elif source.repository is not None and source.repository.startswith("oci://"):
        args.update(chart=f"{source.repository.rstrip('/')}/{release.chart}", version=source.version)
    else:
        args.update(chart=release.chart, version=source.version, repository_opts={"repo": source.repository})
    return args
