"""cert-manager's approver-policy, when the cluster runs it (`cluster.certManager.approverPolicy`): a
`CertificateRequestPolicy` per tenant that approves only what the tenant may hold (its hosts as DNS
names, no CA, no subject), whoever asked cert-manager for it.

The admission rules stop a tenant's own requests; approver-policy limits the issuer itself, so a
request that reaches cert-manager by another path (its ingress-shim, a future shim, a tenant's own
`Issuer`) is denied too. approver-policy evaluates a request against the policies its requester may
`use` (RBAC) whose selector matches: the requester of a Certificate's requests is cert-manager, so
a RoleBinding in the tenant's namespace lets cert-manager use the tenant's policy there only.
Field names: approver-policy's API reference (policy.cert-manager.io/v1alpha1).
"""

from __future__ import annotations

from tenants.model import CertManager, Tenant

from .meta import k8s_object

POLICY_API = "policy.cert-manager.io/v1alpha1"
RBAC = "rbac.authorization.k8s.io"
# What cert-manager puts in a Certificate's requests by default (`digital signature`, `key
# encipherment`) and what TLS servers and mesh clients use.
USAGES = ["digital signature", "key encipherment", "server auth", "client auth"]


def policy_name(tenant: Tenant) -> str:
    return f"istio-multitenancy-{tenant.name}"


def certificate_request_policy(tenant: Tenant, labels: dict[str, str]) -> dict:
    hosts = sorted(h for h in tenant.served_dns_names if h != "*")
    spec = {
        # Omitted fields (commonName, ipAddresses, uris, emailAddresses, subject, isCA) must be empty.
        "allowed": {"dnsNames": {"values": hosts}, "usages": list(USAGES)},
        "selector": {"issuerRef": {}, "namespace": {"matchNames": [tenant.namespace_name]}},
    }
    return k8s_object(POLICY_API, "CertificateRequestPolicy", policy_name(tenant), labels=labels, spec=spec)


def approver_policy_objects(tenant: Tenant, cert_manager: CertManager, labels: dict[str, str]) -> list[dict]:
    """The tenant's policy, the ClusterRole to use it and the RoleBinding that grants it to
    cert-manager in the tenant's namespace; none unless the file turns approver-policy on."""
    if not cert_manager.approver_policy:
        return []
    name = policy_name(tenant)
    role = k8s_object(
        f"{RBAC}/v1", "ClusterRole", name, labels=labels,
        rules=[{"apiGroups": ["policy.cert-manager.io"], "resources": ["certificaterequestpolicies"], "verbs": ["use"], "resourceNames": [name]}],
    )
    subjects = [{"apiGroup": RBAC, "kind": "User", "name": user} for user in sorted(cert_manager.users)]
    binding = k8s_object(
        f"{RBAC}/v1", "RoleBinding", "cert-manager-policy", tenant.namespace_name, labels=labels,
        roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": name}, subjects=subjects,
    )
    return [certificate_request_policy(tenant, labels), role, binding]

