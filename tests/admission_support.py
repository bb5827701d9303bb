"""The API server's ValidatingAdmissionPolicy semantics, over the emitted policies, in Python.

What a request meets: each policy whose `matchConstraints` match its resource and operation, bound
(by `namespaceSelector`) to its namespace, whose `matchConditions` all hold; then every validation
must hold, with the params object the binding names (missing: refused, as `parameterNotFoundAction:
Deny`). CEL runs in two independent evaluators (the `cel` Rust bindings and `celpy`); an error in
either, or a disagreement, fails the test rather than count as a verdict: the API server would
refuse on an error (failurePolicy Fail) and the policies are written never to raise one.

Fields the harness does not model (excludeResourceRules, objectSelector, variables, auditAnnotations,
messageExpression) fail the test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import cel
import celpy

from tests.isolation_support import label_selector_selects

_CELPY = celpy.Environment()


def plural(kind: str) -> str:
    """The resource name of a kind, as the API server's RESTMapper guesses it."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


def evaluate_cel(expression: str, context: dict[str, Any]) -> bool:
    first = cel.evaluate(expression, context)
    second = _CELPY.program(_CELPY.compile(expression)).evaluate(celpy.json_to_cel(context))
    assert isinstance(first, bool), (expression, first)
    assert bool(second) == first, f"the evaluators disagree on {expression!r}: {first} vs {second}"
    return first


@dataclass(frozen=True)
class Request:
    operation: str
    object: Optional[dict]
    old_object: Optional[dict]
    username: str
    groups: tuple[str, ...]

    @property
    def subject(self) -> dict:
        return self.object if self.object is not None else self.old_object

    @property
    def group(self) -> str:
        return self.subject["apiVersion"].rpartition("/")[0]

    @property
    def namespace(self) -> str:
        meta = self.subject["metadata"]
        return meta["name"] if self.subject["kind"] == "Namespace" else meta["namespace"]


def _matches(rules: list[dict], request: Request) -> bool:
    resource = plural(request.subject["kind"])
    for rule in rules:
        assert set(rule) <= {"apiGroups", "apiVersions", "operations", "resources", "scope"}, rule
        if (
            any(g in ("*", request.group) for g in rule["apiGroups"])
            and any(r in ("*", "*/*", resource) for r in rule["resources"])
            and any(o in ("*", request.operation) for o in rule["operations"])
            and not (rule.get("scope") == "Namespaced" and request.subject["kind"] == "Namespace")
        ):
            return True
    return False


def refusals(objects: list[dict], namespaces: dict[str, dict], request: Request) -> list[str]:
    """The messages of every policy that refuses `request`; [] when it is admitted.

    `objects` are what the program emits (policies, bindings, the params ConfigMap);
    `namespaces` maps each namespace to its labels as the cluster has them.
    """
    by_kind: dict[str, dict[str, dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    configmaps = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "ConfigMap"}
    found = []
    for binding in by_kind.get("ValidatingAdmissionPolicyBinding", {}).values():
        spec = binding["spec"]
        assert set(spec) <= {"policyName", "validationActions", "matchResources", "paramRef"}, spec
        assert spec["validationActions"] == ["Deny"]
        policy = by_kind["ValidatingAdmissionPolicy"][spec["policyName"]]["spec"]
        assert set(policy) <= {"failurePolicy", "matchConstraints", "matchConditions", "validations", "paramKind"}, policy
        assert set(policy["matchConstraints"]) == {"resourceRules"}
        if not _matches(policy["matchConstraints"]["resourceRules"], request):
            continue
        match = spec.get("matchResources", {})
        assert set(match) <= {"namespaceSelector"}, match
        if "namespaceSelector" in match:
            labels = request.subject["metadata"].get("labels", {}) if request.subject["kind"] == "Namespace" else namespaces.get(request.namespace, {})
            if not label_selector_selects(match["namespaceSelector"], labels):
                continue
        context: dict[str, Any] = {
            "object": request.object,
            "oldObject": request.old_object,
            "request": {
                "operation": request.operation,
                "namespace": request.namespace,
                "name": request.subject["metadata"]["name"],
                "userInfo": {"username": request.username, "groups": list(request.groups)},
            },
            "params": None,
        }
        if not all(evaluate_cel(c["expression"], context) for c in policy.get("matchConditions", [])):
            continue
        if "paramKind" in policy:
            assert policy["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
            ref = spec["paramRef"]
            assert ref["parameterNotFoundAction"] == "Deny"
            params = configmaps.get((ref["namespace"], ref["name"]))
            if params is None:
                found.append(f"{spec['policyName']}: no params")
                continue
            context["params"] = params
        for validation in policy["validations"]:
            assert set(validation) <= {"expression", "message", "reason"}, validation
            if not evaluate_cel(validation["expression"], context):
                found.append(validation["message"])
    return found
