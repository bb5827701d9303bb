"""Keep the API server's ConfigMap parameter informer alive for the whole session.

kube-apiserver (kubernetes/kubernetes#130887, fix proposed in #141015) stops the informer of a
built-in `paramKind` (the program's parameters are a v1 ConfigMap) as soon as no
ValidatingAdmissionPolicyBinding names that kind, and never starts it again in that process:
every later binding to a ConfigMap then denies with "no params found for policy binding" (or
judges by a stale copy). A scenario that removes the program's bindings (destroy, reset) would
break every later one. One binding of our own, present from the session's start to its end and
matching no real request, keeps the informer running. It stays when the session ends: on a
cluster that outlives the session (started by hand, or the user's), deleting it would stop the
informer for good, unless another binding to a ConfigMap still exists.
"""

from __future__ import annotations

from .kube import Kube

NAME = "e2e-keep-configmap-params"

POLICY = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {"name": NAME},
    "spec": {
        "failurePolicy": "Ignore",
        "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        # A group no API server serves: the policy never judges a request.
        "matchConstraints": {"resourceRules": [{"apiGroups": ["e2e.invalid"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["keepalives"]}]},
        "validations": [{"expression": "true"}],
    },
}

BINDING = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {"name": NAME},
    "spec": {
        "policyName": NAME,
        "validationActions": ["Deny"],
        "paramRef": {"name": NAME, "namespace": "default", "parameterNotFoundAction": "Allow"},
    },
}


def keep_param_informer(kube: Kube) -> None:
    kube.apply([POLICY, BINDING])

