"""What `istioctl operator init` installs, as objects: the istio-operator Helm chart rendered in code.

Mirrors manifests/charts/istio-operator at the pinned Istio release (1.20-1.23 ship the same
templates); tests compare it with the chart's templates and istioctl's golden output.
"""

from __future__ import annotations

from .meta import k8s_object, namespace

OPERATOR_NAMESPACE = "istio-operator"
OPERATOR_NAME = "istio-operator"
DEFAULT_HUB = "docker.io/istio"
METRICS_PORT = 8383
MONITORING_PORT = 15014


def _all(group: str) -> dict:
    return {"apiGroups": [group], "resources": ["*"], "verbs": ["*"]}


# The chart's clusterrole.yaml, rule for rule.
CLUSTER_ROLE_RULES = [
    *(_all(g) for g in (
        "authentication.istio.io",
        "config.istio.io",
        "install.istio.io",
        "networking.istio.io",
        "security.istio.io",
        "telemetry.istio.io",
        "extensions.istio.io",
    )),
    {
        "apiGroups": ["admissionregistration.k8s.io"],
        "resources": ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
        "verbs": ["*"],
    },
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions.apiextensions.k8s.io", "customresourcedefinitions"],
        "verbs": ["*"],
    },
    {
        "apiGroups": ["apps", "extensions"],
        "resources": ["daemonsets", "deployments", "deployments/finalizers", "replicasets"],
        "verbs": ["*"],
    },
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["*"]},
    {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors"], "verbs": ["get", "create", "update"]},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["*"]},
    {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterrolebindings", "clusterroles", "roles", "rolebindings"],
        "verbs": ["*"],
    },
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    {
        "apiGroups": [""],
        "resources": [
            "configmaps", "endpoints", "events", "namespaces", "pods", "pods/proxy", "pods/portforward",
            "persistentvolumeclaims", "secrets", "services", "serviceaccounts", "resourcequotas",
        ],
        "verbs": ["*"],
    },
]

_CREATION_TIMESTAMP_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients may "
    "not set this value. It is represented in RFC3339 form and is in UTC. Populated by the system. "
    "Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/api-conventions.md#metadata"
)


def operator_crd() -> dict:
    """istiooperators.install.istio.io, as in the chart's crds/crd-operator.yaml (no structural schema upstream)."""
    return k8s_object(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "istiooperators.install.istio.io",
        labels={"release": "istio"},
        spec={
            "conversion": {"strategy": "None"},
            "group": "install.istio.io",
            "names": {
                "kind": "IstioOperator",
                "listKind": "IstioOperatorList",
                "plural": "istiooperators",
                "singular": "istiooperator",
                "shortNames": ["iop", "io"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "additionalPrinterColumns": [
                        {"description": "Istio control plane revision", "jsonPath": ".spec.revision", "name": "Revision", "type": "string"},
                        {"description": "IOP current state", "jsonPath": ".status.status", "name": "Status", "type": "string"},
                        {"description": _CREATION_TIMESTAMP_DOC, "jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"},
                    ],
                    "name": "v1alpha1",
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "served": True,
                    "storage": True,
                }
            ],
        },
    )


def operator_objects(version: str, watched_namespaces: list[str], hub: str = DEFAULT_HUB) -> list[dict]:
    """Namespace, CRD, ServiceAccount, ClusterRole, ClusterRoleBinding, Deployment and Service, in apply order."""
    ns = OPERATOR_NAMESPACE
    selector = {"name": OPERATOR_NAME}
    deployment_spec = {
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {
                "labels": selector,
                "annotations": {"prometheus.io/port": str(MONITORING_PORT), "prometheus.io/scrape": "true"},
            },
            "spec": {
                "serviceAccountName": OPERATOR_NAME,
                "containers": [
                    {
                        "name": OPERATOR_NAME,
                        "image": f"{hub}/operator:{version}",
                        "command": [
                            "operator",
                            "server",
                            "--monitoring-host=127.0.0.1",
                            f"--monitoring-port={MONITORING_PORT}",
                        ],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "privileged": False,
                            "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True,
                        },
                        "resources": {
                            "limits": {"cpu": "200m", "memory": "256Mi"},
                            "requests": {"cpu": "50m", "memory": "128Mi"},
                        },
                        "env": [
                            {"name": "WATCH_NAMESPACE", "value": ",".join(watched_namespaces)},
                            {"name": "LEADER_ELECTION_NAMESPACE", "value": ns},
                            # apiVersion as the API server defaults it: sent without it, the stored
                            # atomic fieldRef differs from what Pulumi applies, and server-side apply
                            # by a new field manager (the update after an interrupted one) conflicts.
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                            {"name": "OPERATOR_NAME", "value": ns},
                            {"name": "WAIT_FOR_RESOURCES_TIMEOUT", "value": "300s"},
                            {"name": "REVISION", "value": ""},
                        ],
                    }
                ],
            },
        },
    }
    return [
        # Labels as istioctl writes them (see operator-remove.yaml in istioctl's golden files).
        namespace(ns, {"istio-operator-managed": "Reconcile", "istio-injection": "disabled"}),
        operator_crd(),
        k8s_object("v1", "ServiceAccount", OPERATOR_NAME, ns),
        k8s_object("rbac.authorization.k8s.io/v1", "ClusterRole", OPERATOR_NAME, rules=CLUSTER_ROLE_RULES),
        k8s_object(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            OPERATOR_NAME,
            subjects=[{"kind": "ServiceAccount", "name": OPERATOR_NAME, "namespace": ns}],
            roleRef={"kind": "ClusterRole", "name": OPERATOR_NAME, "apiGroup": "rbac.authorization.k8s.io"},
        ),
        k8s_object("apps/v1", "Deployment", OPERATOR_NAME, ns, spec=deployment_spec),
        k8s_object(
            "v1",
            "Service",
            OPERATOR_NAME,
            ns,
            labels=selector,
            spec={
                "ports": [{"name": "http-metrics", "port": METRICS_PORT, "targetPort": METRICS_PORT, "protocol": "TCP"}],
                "selector": selector,
            },
        ),
    ]
