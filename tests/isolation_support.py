"""Who may reach whom, judged from the emitted objects the way Istio and Kubernetes judge them.

The evaluators understand exactly the fields the program emits; anything else fails the test
instead of being misjudged.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

from tests.support import of_kind

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
CANONICAL_SERVICE_LABEL = "service.istio.io/canonical-name"


def _selects(match_labels: dict, pod_labels: dict) -> bool:
    return match_labels.items() <= pod_labels.items()


def _expression_holds(expression: dict, labels: dict) -> bool:
    """One `matchExpressions` term, as Kubernetes' labels.Selector evaluates it."""
    assert set(expression) <= {"key", "operator", "values"}, expression
    operator, key = expression["operator"], expression["key"]
    values = expression.get("values", [])
    if operator in ("In", "NotIn"):
        assert values, f"{operator} needs values: the API server rejects {expression}"
        # A pod without the key is in no set of values: NotIn selects it.
        return (key in labels and labels[key] in values) == (operator == "In")
    if operator in ("Exists", "DoesNotExist"):
        assert not values, f"{operator} takes no values: the API server rejects {expression}"
        return (key in labels) == (operator == "Exists")
    raise AssertionError(f"unknown operator in {expression}")


def label_selector_selects(selector: dict, labels: dict) -> bool:
    """A Kubernetes LabelSelector: every matchLabels pair and every matchExpressions term (ANDed);
    `{}` selects everything."""
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    return _selects(selector.get("matchLabels", {}), labels) and all(
        _expression_holds(expression, labels) for expression in selector.get("matchExpressions", [])
    )


def in_namespace(objs: list[dict], kind: str, namespace: str) -> list[dict]:
    return [o for o in of_kind(objs, kind) if o["metadata"].get("namespace") == namespace]


def mesh_admits(objs: list[dict], namespace: str, pod_labels: dict, source_namespace: str, root_namespace: str) -> bool:
    """Istio's verdict on an mTLS request from a workload of `source_namespace` to a pod of `namespace`."""
    assert in_namespace(objs, "AuthorizationPolicy", root_namespace) == [], "a root-namespace policy would apply mesh-wide"
    applicable = []
    for policy in in_namespace(objs, "AuthorizationPolicy", namespace):
        spec = policy["spec"]
        assert set(spec) <= {"selector", "action", "rules"} and spec["action"] == "ALLOW", spec
        selector = spec.get("selector", {"matchLabels": {}})
        assert set(selector) == {"matchLabels"}, selector
        if _selects(selector["matchLabels"], pod_labels):
            applicable.append(spec)
    if not applicable:
        return True  # no ALLOW policy: Istio allows
    return any(_rule_admits(rule, source_namespace) for spec in applicable for rule in spec.get("rules", []))


def _rule_admits(rule: dict, source_namespace: str) -> bool:
    assert set(rule) <= {"from"}, rule
    if "from" not in rule:
        return True  # `{}` matches every request
    for entry in rule["from"]:
        source = entry["source"]
        assert set(source) == {"namespaces"}, source
        if source_namespace in source["namespaces"]:
            return True
    return False


def _network_policies(objs: list[dict], namespace: str, direction: str) -> list[dict]:
    """The specs of the namespace's NetworkPolicies of one direction (`Ingress` or `Egress`)."""
    specs = []
    for policy in in_namespace(objs, "NetworkPolicy", namespace):
        spec = policy["spec"]
        assert spec["policyTypes"] in (["Ingress"], ["Egress"]), spec
        assert set(spec) == {"podSelector", "policyTypes", spec["policyTypes"][0].lower()}, spec
        if spec["policyTypes"] == [direction]:
            specs.append(spec)
    return specs


def network_admits(objs: list[dict], namespace: str, pod_labels: dict, source_namespace: str) -> bool:
    """Kubernetes' verdict on a connection to the pod's application (any port but those a rule opens
    alone: network_admits_on asks about one port) from a pod of `source_namespace` (or from outside
    when None)."""
    source_labels = {NAMESPACE_NAME_LABEL: source_namespace} if source_namespace else None
    selecting = [spec for spec in _network_policies(objs, namespace, "Ingress") if label_selector_selects(spec["podSelector"], pod_labels)]
    if not selecting:
        return True  # a pod no policy selects is not isolated
    for spec in selecting:
        for rule in spec["ingress"]:
            assert set(rule) <= {"from", "ports"}, rule
            if "ports" in rule:
                continue
            if "from" not in rule:
                return True
            for peer in rule["from"]:
                assert set(peer) == {"namespaceSelector"}, peer
                if source_labels is not None and label_selector_selects(peer["namespaceSelector"], source_labels):
                    return True
    return False


def network_egress_allows(
    objs: list[dict], namespace: str, pod_labels: dict, *, to_namespace: str | None = None, to_ip: str | None = None,
    port: int, protocol: str = "TCP",
) -> bool:
    """Kubernetes' verdict on a connection from a pod of `namespace` to a pod of `to_namespace`, or
    to the address `to_ip` outside any pod network (exactly one of the two)."""
    assert (to_namespace is None) != (to_ip is None)
    selecting = [spec for spec in _network_policies(objs, namespace, "Egress") if label_selector_selects(spec["podSelector"], pod_labels)]
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec["egress"]:
            assert set(rule) <= {"to", "ports"} and "to" in rule, rule
            ports = rule.get("ports")
            if ports is not None and not any(p == {"protocol": protocol, "port": port} for p in ports):
                continue
            for peer in rule["to"]:
                assert set(peer) in ({"namespaceSelector"}, {"ipBlock"}), peer
                if "namespaceSelector" in peer and to_namespace is not None:
                    if label_selector_selects(peer["namespaceSelector"], {NAMESPACE_NAME_LABEL: to_namespace}):
                        return True
                if "ipBlock" in peer and to_ip is not None:
                    block = peer["ipBlock"]
                    assert set(block) <= {"cidr", "except"}, block
                    address = ipaddress.ip_address(to_ip)
                    inside = lambda cidr: address.version == ipaddress.ip_network(cidr).version and address in ipaddress.ip_network(cidr)  # noqa: E731
                    if inside(block["cidr"]) and not any(inside(cut) for cut in block.get("except", [])):
                        return True
    return False


def sidecar_hosts(objs: list[dict], namespace: str) -> list[str]:
    (sidecar,) = in_namespace(objs, "Sidecar", namespace)
    assert "workloadSelector" not in sidecar["spec"], "the namespace's default Sidecar selects no workload"
    (egress,) = sidecar["spec"]["egress"]
    return egress["hosts"]


def policy_namespaces(objs: list[dict], namespace: str) -> set[str]:
    """Every namespace the AuthorizationPolicies of `namespace` name as a source."""
    return {
        ns
        for policy in in_namespace(objs, "AuthorizationPolicy", namespace)
        for rule in policy["spec"].get("rules", [])
        for entry in rule.get("from", [])
        for ns in entry["source"].get("namespaces", [])
    }


def network_admits_on(objs: list[dict], namespace: str, pod_labels: dict, source: Optional[dict], port: int, protocol: str = "TCP") -> bool:
    """Kubernetes' verdict on a connection to `port` of a pod, from a pod of a namespace labelled
    `source` (its namespace's labels; None: from outside any namespace). Peers with a podSelector
    are taken to name pods of their own namespace, which the caller's `source` never holds."""
    selecting = [
        policy["spec"] for policy in in_namespace(objs, "NetworkPolicy", namespace)
        if "Ingress" in policy["spec"]["policyTypes"] and label_selector_selects(policy["spec"]["podSelector"], pod_labels)
    ]
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec.get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p["port"] == port and p.get("protocol", "TCP") == protocol for p in ports):
                continue
            if "from" not in rule:
                return True
            for peer in rule["from"]:
                assert set(peer) <= {"namespaceSelector", "podSelector"}, peer
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    continue
                if source is not None and label_selector_selects(peer["namespaceSelector"], source):
                    return True
    return False
