"""The tenant rules as the API server enforces them: a ValidatingAdmissionPolicy and its binding per
rule of `rules/table.py` that has an admission form, and one ConfigMap of per-tenant parameters.

The policies and bindings are the same for every tenant; what differs per tenant (its hosts,
gateway, exports) is in the params ConfigMap in the control-plane namespace, one key per tenant
and field (`<namespace>.<field>`), which tenants cannot write. So a tenant costs no admission
object of its own, and a namespace labelled as a tenant's that the file does not list (a removed
tenant's retained namespace) finds no parameters: the rules that need them refuse.
"""

from __future__ import annotations

import re

from rules import invariants as inv
from rules.table import ADMISSION_RULES, CERT_MANAGER, CONTROLLERS, Rule
from tenants.meshes import istiod_name, platform_control_plane
from tenants.model import ServiceType, Tenant, TenantsFile

from .admission_keeper import param_keeper
from .meta import MANAGED_BY, TENANT_LABEL, k8s_object

ADMISSION = "admissionregistration.k8s.io/v1"
PARAMS_NAME = "istio-multitenancy-tenants"
POLICY_PREFIX = "istio-multitenancy-"
# Kubernetes' own controllers, by the identities they act as: the controller manager (one identity,
# or one service account per controller with --use-service-account-credentials) and the kubelets.
# They write the platform's objects in tenant namespaces (pods and ReplicaSets of the gateways,
# EndpointSlices copying the gateway Service's labels, quota status, garbage collection, namespace
# deletion), so they are exempt from the rules about those objects, and from no other.
KUBE_CONTROLLER_MANAGER = "system:kube-controller-manager"
KUBE_SCHEDULER = "system:kube-scheduler"
CONTROLLER_SERVICE_ACCOUNTS = (
    "cloud-controller-manager", "daemon-set-controller", "deployment-controller", "disruption-controller",
    "endpoint-controller", "endpointslice-controller", "endpointslicemirroring-controller", "generic-garbage-collector",
    "horizontal-pod-autoscaler", "namespace-controller", "replicaset-controller", "resourcequota-controller",
    "root-ca-cert-publisher", "service-account-controller", "service-controller", "statefulset-controller",
)
NODES_GROUP = "system:nodes"
OPERATOR_SERVICE_ACCOUNT = "system:serviceaccount:istio-operator:istio-operator"


def istiod_users(config: TenantsFile) -> list[str]:
    """istiod's service accounts, as Istio's istiod chart names them on every install method
    (Sail renders the same chart): `istiod`, or `istiod-<revision>` for each revision of each mesh
    (`istiod` for Istio's default revision)."""
    if config.meshes is None:
        return [f"system:serviceaccount:{config.control_plane.namespace}:istiod"]
    return [f"system:serviceaccount:{m.namespace_name}:{istiod_name(r.name)}" for m in config.meshes for r in m.revision_list]


def params_namespace(config: TenantsFile) -> str:
    """Where the parameters live: the platform's control-plane namespace (the first mesh's), which tenants cannot write."""
    return platform_control_plane(config).namespace


def platform_users(config: TenantsFile, operator: bool = False) -> list[str]:
    """Who acts for the platform on every rule: the file's platform identities, every istiod (it
    creates the Deployments and Services of Gateway API gateways) and, on the operator path only,
    the Istio operator (tenants' gateways)."""
    return sorted({*config.platform_identities.users, *istiod_users(config), *([OPERATOR_SERVICE_ACCOUNT] if operator else [])})


def controller_users() -> list[str]:
    return [KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, *(f"system:serviceaccount:kube-system:{sa}" for sa in CONTROLLER_SERVICE_ACCOUNTS)]


def exempt_users(config: TenantsFile, rule: Rule, operator: bool = False) -> list[str]:
    """The platform's identities, and those the rule exempts besides (Kubernetes' controllers, cert-manager)."""
    admission = rule.admission
    assert admission is not None
    users = set(platform_users(config, operator))
    if CONTROLLERS in admission.exempt:
        users.update(controller_users())
    if CERT_MANAGER in admission.exempt:
        users.update(config.cluster.cert_manager.users)
    return sorted(users)


def exempt_groups(config: TenantsFile, rule: Rule) -> list[str]:
    admission = rule.admission
    assert admission is not None
    return sorted({*config.platform_identities.groups, *([NODES_GROUP] if CONTROLLERS in admission.exempt else [])})


def _cel_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


def not_platform(config: TenantsFile, rule: Rule, operator: bool = False) -> str:
    """CEL: the request is not made by an identity the rule exempts."""
    groups = exempt_groups(config, rule)
    by_group = f" || request.userInfo.groups.exists(g, g in {_cel_list(groups)})" if groups else ""
    return f"!(request.userInfo.username in {_cel_list(exempt_users(config, rule, operator))}{by_group})"


def host_pattern(tenant: Tenant) -> str:
    """An RE2 pattern of the names the tenants file gives the tenant (its gateway's hosts, but not `*`):
    an explicit host, or any name under one of its wildcards."""
    parts = []
    for host in tenant.served_dns_names:
        if host == "*":
            continue
        parts.append(".+" + re.escape(host[1:]) if host.startswith("*.") else re.escape(host))
    return "^(" + "|".join(parts) + ")$" if parts else "^$"


def _export_pattern(allowed: list[str]) -> str:
    choice = "(" + "|".join(re.escape(a) for a in allowed) + ")"
    return f"^ *{choice}( *, *{choice})* *$"


def tenant_params(tenant: Tenant, config: TenantsFile) -> dict[str, str]:
    """The tenant's keys in the params ConfigMap."""
    ns = tenant.namespace_name
    labels = tenant.gateway_labels
    platform = inv.Platform(config)
    data = {
        "tenant": tenant.name,
        "hosts": host_pattern(tenant),
        "anyHost": str("*" in tenant.served_dns_names).lower(),
        "gateway": tenant.gateway_name,
        "gatewayLabels": "\n" + "".join(f"{k}={v}\n" for k, v in sorted(labels.items())),
        "gatewayLabelCount": str(len(labels)),
        "nodePorts": str(tenant.quota.node_ports > 0).lower(),
        # The gateway's own Service may be a NodePort where the file makes it one.
        "gatewayNodePort": str(tenant.gateway.service.type == ServiceType.NODE_PORT).lower(),
        "jwks": inv.jwks_uri_pattern(config.cluster.jwks_hosts),
        "priorityClasses": "^(" + "|".join(re.escape(c) for c in config.cluster.priority_classes) + ")$",
        # The namespaces its own NetworkPolicies may name.
        "peers": "^(" + "|".join(re.escape(ns) for ns in platform.peer_namespaces(tenant)) + ")$",
    }
    for service in sorted({e.service for e in tenant.exports}):
        data[f"export.{service}"] = _export_pattern(inv.service_export_targets(tenant, platform, service))
    return {f"{ns}.{key}": value for key, value in data.items()}


def admission_params(config: TenantsFile) -> dict:
    data: dict[str, str] = {}
    for tenant in config.tenants:
        data.update(tenant_params(tenant, config))
    return k8s_object("v1", "ConfigMap", PARAMS_NAME, params_namespace(config), labels=MANAGED_BY, data=dict(sorted(data.items())))


def policy_name(rule: Rule) -> str:
    return POLICY_PREFIX + rule.name


def admission_policy(rule: Rule, config: TenantsFile, operator: bool = False) -> dict:
    admission = rule.admission
    assert admission is not None
    groups = sorted({group for group, _ in admission.resources})
    resource_rules = [
        {
            "apiGroups": [group],
            "apiVersions": ["*"],
            "operations": list(admission.operations),
            "resources": sorted(resource for g, resource in admission.resources if g == group),
            **({"scope": "Namespaced"} if admission.tenant_namespaces else {}),
        }
        for group in groups
    ]
    conditions = [{"name": "not-a-platform-identity", "expression": not_platform(config, rule, operator)}]
    if admission.condition:
        conditions.append({"name": "applies", "expression": admission.condition})
    spec: dict = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": resource_rules},
        "matchConditions": conditions,
        "validations": [{"expression": admission.expression, "message": rule.message, "reason": "Forbidden"}],
    }
    if admission.uses_params:
        spec["paramKind"] = {"apiVersion": "v1", "kind": "ConfigMap"}
    return k8s_object(ADMISSION, "ValidatingAdmissionPolicy", policy_name(rule), labels=MANAGED_BY, spec=spec)


def admission_binding(rule: Rule, config: TenantsFile) -> dict:
    admission = rule.admission
    assert admission is not None
    spec: dict = {"policyName": policy_name(rule), "validationActions": ["Deny"]}
    if admission.tenant_namespaces:
        expressions = [{"key": TENANT_LABEL, "operator": "Exists"}]
        listed = sorted(t.name for t in config.tenants)
        if admission.removed_tenants_only and listed:
            expressions.append({"key": TENANT_LABEL, "operator": "NotIn", "values": listed})
        spec["matchResources"] = {"namespaceSelector": {"matchExpressions": expressions}}
    if admission.uses_params:
        # Fail closed: without its parameters, a rule refuses rather than admits.
        spec["paramRef"] = {"name": PARAMS_NAME, "namespace": params_namespace(config), "parameterNotFoundAction": "Deny"}
    return k8s_object(ADMISSION, "ValidatingAdmissionPolicyBinding", policy_name(rule), labels=MANAGED_BY, spec=spec)


def params_keeper(config: TenantsFile) -> tuple[dict, dict]:
    """The program's inert pair (builders.admission_keeper), kept when the stack is destroyed:
    without it, a new deploy after a destroy would find every tenant request refused with 'no
    params found for policy binding'."""
    return param_keeper(POLICY_PREFIX + "keep-params", PARAMS_NAME, params_namespace(config), MANAGED_BY)


def admission_objects(config: TenantsFile, operator: bool = False) -> tuple[dict, list[tuple[dict, dict]]]:
    """The params ConfigMap, and each rule's (policy, binding); `operator`: Istio is installed by the
    in-cluster operator, which then acts for the platform too."""
    return admission_params(config), [(admission_policy(r, config, operator), admission_binding(r, config)) for r in ADMISSION_RULES]
