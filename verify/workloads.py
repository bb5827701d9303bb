"""Synthetic workloads: one Deployment, Service and ServiceAccount for each service a tenants file
names (route targets, exports, imports' targets), in the namespace of the tenant that owns it.

The render holds no tenant workloads (tenants deploy their own), so whoever computes what the
render's policies do (Istio's simulation, the connectivity analyzer) needs stand-ins with the
ports and labels the file implies. They are generated from the file, never written by hand.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from builders.isolation import CANONICAL_SERVICE_LABEL
from builders.mesh_settings import RUNTIME_DEFAULT_SECCOMP
from builders.meta import k8s_object
from tenants.model import Protocol, RouteKind, Tenant, TenantsFile, dns_part

VERSION = "v1"
# An exported service that no route targets has no port in the file: it gets this one.
UNROUTED_PORT = 8080
# Pause does nothing and runs as anyone: the workloads exist to be selected, not to serve.
IMAGE = "registry.k8s.io/pause:3.10"
SIDECAR_STATUS_ANNOTATION = "sidecar.istio.io/status"
PROXY_CONTAINER = "istio-proxy"
# What Istio's injector merges into a pod: Prometheus scrapes the proxy's merged metrics here.
PROXY_METRICS_PORT = 15020
ENVOY_PROMETHEUS_PORT = 15090

# The backend protocol Istio infers from a Service port's name prefix, by the gateway server
# protocol of the route that reaches it.
_HTTP_FAMILY = {Protocol.HTTP2: "http2", Protocol.GRPC: "grpc"}


@dataclass(frozen=True, order=True)
class ServicePort:
    port: int
    protocol: str  # Istio's protocol name: http, http2, grpc, tcp, tls

    @property
    def name(self) -> str:
        """Istio's port naming convention: `<protocol>[-<suffix>]`."""
        return f"{self.protocol}-{self.port}"


@dataclass(frozen=True)
class SyntheticService:
    tenant: str
    namespace: str
    name: str
    ports: tuple[ServicePort, ...]


def _route_protocol(tenant: Tenant, route) -> str:
    if route.kind == RouteKind.TLS:
        return "tls"
    if route.kind == RouteKind.TCP:
        return "tcp"
    hosts = set(tenant.route_hosts(route))
    servers = [s for s in tenant.route_servers(route) if hosts & {dns_part(h) for h in s.hosts}] or tenant.route_servers(route)
    return _HTTP_FAMILY.get(servers[0].protocol, "http") if servers else "http"


def _destinations(route) -> list:
    if route.http is not None:
        return [rule.to for rule in route.http]
    return [(route.tcp or route.tls).to]


def tenant_services(tenant: Tenant) -> dict[str, tuple[ServicePort, ...]]:
    """Each service of the tenant that the file names, with its ports (first protocol seen per port)."""
    ports: dict[str, dict[int, ServicePort]] = {}
    for route in tenant.routes:
        protocol = _route_protocol(tenant, route)
        for to in _destinations(route):
            ports.setdefault(to.service, {}).setdefault(to.port, ServicePort(to.port, protocol))
    for export in tenant.exports:
        ports.setdefault(export.service, {})
    return {
        service: tuple(sorted(by_port.values())) or (ServicePort(UNROUTED_PORT, "http"),)
        for service, by_port in sorted(ports.items())
    }


def named_services(config: TenantsFile) -> list[SyntheticService]:
    """Every service the file names, by owner: its own routes' targets and exports, and the
    services other tenants import from it."""
    by_name = {tenant.name: tenant for tenant in config.tenants}
    services = {tenant.name: dict(tenant_services(tenant)) for tenant in config.tenants}
    for tenant in config.tenants:
        for wanted in tenant.imports:
            if wanted.tenant in services:
                services[wanted.tenant].setdefault(wanted.service, (ServicePort(UNROUTED_PORT, "http"),))
    return [
        SyntheticService(name, by_name[name].namespace_name, service, ports)
        for name in sorted(services)
        for service, ports in sorted(services[name].items())
    ]


def pod_labels(service: SyntheticService) -> dict[str, str]:
    return {"app": service.name, "version": VERSION, CANONICAL_SERVICE_LABEL: service.name}


def _container(service: SyntheticService) -> dict:
    return {
        "name": service.name,
        "image": IMAGE,
        "ports": [{"name": p.name, "containerPort": p.port, "protocol": "TCP"} for p in service.ports],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "runAsUser": 65535,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _pod_spec(service: SyntheticService) -> dict:
    return {
        "serviceAccountName": service.name,
        "securityContext": {"seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP)},
        "containers": [_container(service)],
    }


def workload_objects(service: SyntheticService) -> list[dict]:
    """ServiceAccount, Service and Deployment of one synthetic service."""
    labels = {"app": service.name}
    selector = {"app": service.name, "version": VERSION}
    return [
        k8s_object("v1", "ServiceAccount", service.name, service.namespace, labels=labels),
        k8s_object(
            "v1", "Service", service.name, service.namespace, labels=labels,
            spec={
                "selector": {"app": service.name},
                "ports": [{"name": p.name, "port": p.port, "targetPort": p.port, "protocol": "TCP"} for p in service.ports],
            },
        ),
        k8s_object(
            "apps/v1", "Deployment", f"{service.name}-{VERSION}", service.namespace, labels={**labels, "version": VERSION},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {"metadata": {"labels": pod_labels(service)}, "spec": _pod_spec(service)},
            },
        ),
    ]


def synthetic_workloads(tenants_file: TenantsFile) -> list[dict]:
    """Deployment, Service and ServiceAccount for each service the tenants file names."""
    return [obj for service in named_services(tenants_file) for obj in workload_objects(service)]


def _template_hash(service: SyntheticService) -> str:
    # Stable stand-in for the ReplicaSet's pod-template-hash: derived from the pod, never random.
    digest = hashlib.sha256(json.dumps(pod_labels(service), sort_keys=True).encode()).hexdigest()
    return digest[:10]


def injected_pod(service: SyntheticService) -> dict:
    """The Deployment's one pod as Istio's sidecar injector leaves it: canonical service labels,
    the mTLS mode label, the sidecar status annotation and the proxy container."""
    deployment = f"{service.name}-{VERSION}"
    template_hash = _template_hash(service)
    replica_set = f"{deployment}-{template_hash}"
    labels = {
        **pod_labels(service),
        "pod-template-hash": template_hash,
        "service.istio.io/canonical-revision": VERSION,
        "security.istio.io/tlsMode": "istio",
    }
    status = {
        "initContainers": ["istio-init"],
        "containers": [PROXY_CONTAINER],
        "volumes": ["workload-socket", "credential-socket", "workload-certs", "istio-envoy", "istio-data",
                    "istio-podinfo", "istio-token", "istiod-ca-cert"],
        "imagePullSecrets": None,
        "revision": "default",
    }
    annotations = {
        SIDECAR_STATUS_ANNOTATION: json.dumps(status, separators=(",", ":")),
        "kubectl.kubernetes.io/default-container": service.name,
        "kubectl.kubernetes.io/default-logs-container": service.name,
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(PROXY_METRICS_PORT),
        "prometheus.io/path": "/stats/prometheus",
    }
    spec = _pod_spec(service)
    proxy = {
        "name": PROXY_CONTAINER,
        "image": "docker.io/istio/proxyv2",
        "args": ["proxy", "sidecar"],
        "ports": [
            {"name": "http-envoy-prom", "containerPort": ENVOY_PROMETHEUS_PORT, "protocol": "TCP"},
        ],
        "securityContext": {"runAsUser": 1337, "runAsGroup": 1337, "runAsNonRoot": True},
    }
    spec["containers"] = [*spec["containers"], proxy]
    spec["initContainers"] = [{"name": "istio-init", "image": "docker.io/istio/proxyv2", "args": ["istio-iptables"]}]
    pod = k8s_object("v1", "Pod", f"{replica_set}-{template_hash[:5]}", service.namespace, labels=labels, annotations=annotations, spec=spec)
    pod["metadata"]["generateName"] = f"{replica_set}-"
    pod["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set, "controller": True, "blockOwnerDeletion": True,
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{service.namespace}/{replica_set}")),
        }
    ]
    return pod


def injected_pods(tenants_file: TenantsFile) -> list[dict]:
    """One pod per synthetic Deployment, as the sidecar injector leaves it."""
    return [injected_pod(service) for service in named_services(tenants_file)]
