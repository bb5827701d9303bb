"""A ValidatingAdmissionPolicy with ConfigMap parameters, and its binding, that judge nothing.

kube-apiserver stops resolving the ConfigMap parameters of admission policies, until it restarts,
once no binding uses them (kubernetes/kubernetes#130887, fix proposed in #141015). A pair like this
one, left bound, keeps it resolving them: the program keeps one across a destroy, the e2e cluster
one for its whole life. Standard library only: e2e/localcluster.py runs without the project's
virtualenv.
"""

from __future__ import annotations

from typing import Optional

ADMISSION = "admissionregistration.k8s.io/v1"


def param_keeper(name: str, params_name: str, params_namespace: str, labels: Optional[dict[str, str]] = None) -> tuple[dict, dict]:
    """(policy, binding) named `name`, bound to the ConfigMap `params_namespace/params_name`."""

    def metadata() -> dict:
        return {"name": name, **({"labels": dict(labels)} if labels else {})}

    policy = {"apiVersion": ADMISSION, "kind": "ValidatingAdmissionPolicy", "metadata": metadata(), "spec": {
        "failurePolicy": "Ignore",
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        # A group no API server serves (RFC 2606 reserves .invalid): the policy never judges a request.
        "matchConstraints": {"resourceRules": [
            {"apiGroups": ["keep-params.istio-multitenancy.invalid"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["none"]}
        ]},
        "validations": [{"expression": "true"}],
    }}
    binding = {"apiVersion": ADMISSION, "kind": "ValidatingAdmissionPolicyBinding", "metadata": metadata(), "spec": {
        "policyName": name,
        "validationActions": ["Deny"],
        "paramRef": {"name": params_name, "namespace": params_namespace, "parameterNotFoundAction": "Allow"},
    }}
    return policy, binding
