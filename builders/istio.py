"""Istio networking objects shared by the platform and the tenants."""

from __future__ import annotations

from typing import Optional

from .meta import k8s_object

NETWORKING = "networking.istio.io/v1"
SECURITY = "security.istio.io/v1"


def gateway(name: str, namespace: str, selector: dict[str, str], servers: list[dict], labels: dict[str, str]) -> dict:
    return k8s_object(NETWORKING, "Gateway", name, namespace, labels=labels, spec={"selector": dict(selector), "servers": servers})


def virtual_service(
    name: str,
    namespace: str,
    labels: dict[str, str],
    *,
    hosts: list[str],
    gateways: list[str],
    http: Optional[list[dict]] = None,
    tcp: Optional[list[dict]] = None,
    tls: Optional[list[dict]] = None,
    export_to: Optional[list[str]] = None,
) -> dict:
    spec: dict = {"hosts": list(hosts), "gateways": list(gateways)}
    if export_to is not None:
        spec["exportTo"] = export_to
    for section, rules in (("http", http), ("tcp", tcp), ("tls", tls)):
        if rules is not None:
            spec[section] = rules
    return k8s_object(NETWORKING, "VirtualService", name, namespace, labels=labels, spec=spec)


def autoscaler_bounds(count: int) -> tuple[int, int]:
    """(minimum, maximum) replicas for at least `count`.

    Istio gives istiod and gateways an autoscaler (minimum 1), which would scale a bare replica
    count back down; its minimum is raised too, its maximum kept at Istio's default of 5.
    """
    return count, max(count, 5)


def pinned_replicas(count: int) -> dict:
    """IstioOperator `k8s` settings for at least `count` replicas."""
    low, high = autoscaler_bounds(count)
    return {"replicaCount": count, "hpaSpec": {"minReplicas": low, "maxReplicas": high}}
