"""The admission policies (CEL) and the CrossGuard pack give the same verdicts on one case list
(tests/admission/cases.yaml): forbidden requests are refused with their rule's message, ordinary
work is accepted. The e2e suite replays the same list on a real API server."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from builders.admission import PARAMS_NAME, admission_objects, admission_params, host_pattern, params_keeper
from builders.meta import TENANT_LABEL, resource_type
from builders.tenant import tenant_namespace
from rules.invariants import CLUSTER_SCOPED_KINDS, Platform
from rules.table import ADMISSION_RULES, RULES, evaluate
from tenants import load_tenants
from tests.admission_support import Request, refusals
from tests.support import schema_errors

HERE = Path(__file__).parent / "admission"
CASES = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
RULE_BY_NAME = {rule.name: rule for rule in RULES}


@functools.lru_cache(maxsize=None)
def config():
    return load_tenants(HERE / "tenants.yaml")


@functools.lru_cache(maxsize=None)
def emitted() -> tuple[list[dict], dict[str, dict]]:
    params, rules = admission_objects(config())
    objects = [params, *(obj for pair in rules for obj in pair)]
    namespaces = {t.namespace_name: tenant_namespace(t)["metadata"]["labels"] for t in config().tenants}
    namespaces["istio-system"] = {"kubernetes.io/metadata.name": "istio-system"}
    for retained in CASES["retained"]:
        namespaces[retained["namespace"]] = {"kubernetes.io/metadata.name": retained["namespace"], TENANT_LABEL: retained["tenant"]}
    return objects, namespaces


def request_of(case: dict) -> Request:
    user = CASES["users"][case["as"]]
    return Request(case["operation"], case.get("object"), case.get("oldObject"), user["username"], tuple(user["groups"]))


def admission_refusals(case: dict, objects=None) -> list[str]:
    default_objects, namespaces = emitted()
    return refusals(objects if objects is not None else default_objects, namespaces, request_of(case))


CEL_CASES = [c for c in CASES["cases"] if c.get("enforcer") != "pod-security"]
REFUSED = [c for c in CEL_CASES if "refused" in c]
ACCEPTED = [c for c in CEL_CASES if "refused" not in c]


def test_the_case_list_is_long_enough_and_names_real_rules():
    names = [c["name"] for c in CASES["cases"]]
    assert len(names) == len(set(names))
    assert len(REFUSED) >= 25 and len(ACCEPTED) >= 10
    assert {c["refused"] for c in CASES["cases"] if "refused" in c} <= set(RULE_BY_NAME)
    # Every admission rule is exercised by at least one refusal.
    assert {r.name for r in ADMISSION_RULES} <= {c["refused"] for c in REFUSED}


@pytest.mark.parametrize("case", REFUSED, ids=[c["name"] for c in REFUSED])
def test_forbidden_requests_are_refused_with_their_rules_message(case):
    assert admission_refusals(case) == [RULE_BY_NAME[case["refused"]].message]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c["name"] for c in ACCEPTED])
def test_ordinary_work_is_accepted(case):
    assert admission_refusals(case) == []


@pytest.mark.parametrize("case", REFUSED, ids=[c["name"] for c in REFUSED])
def test_platform_identities_are_exempt(case):
    as_platform = {**case, "as": "deployer"}
    deployer = CASES["users"]["deployer"]["username"]
    assert deployer in config().platform_identities.users
    assert admission_refusals(as_platform) == []


def _crossguard(case: dict) -> list[str]:
    obj = case["object"]
    namespace = obj["metadata"].get("namespace")
    tenant = next(t.name for t in config().tenants if t.namespace_name == namespace)
    platform = Platform(config(), tenant)  # the tenant's own program
    return [v.policy for v in evaluate([("urn:case", resource_type(obj["apiVersion"], obj["kind"]), obj)], platform)]


def _tenant_admin(user: str) -> bool:
    return any(CASES["users"][user]["username"] in t.admins.users for t in config().tenants)


# Requests a tenant's program never makes through Pulumi: deletions, namespaces (cluster-scoped),
# what the platform's identities (the deployer, cert-manager) do, and removed tenants' namespaces.
PREVIEWED = [
    c for c in CEL_CASES
    if c["operation"] != "DELETE" and c["object"]["kind"] not in CLUSTER_SCOPED_KINDS and _tenant_admin(c["as"])
    and c["object"]["metadata"].get("namespace") not in {r["namespace"] for r in CASES["retained"]}
]


@pytest.mark.parametrize("case", PREVIEWED, ids=[c["name"] for c in PREVIEWED])
def test_crossguard_gives_the_same_verdict(case):
    assert _crossguard(case) == ([case["refused"]] if "refused" in case else [])


def test_every_rule_with_a_check_and_an_admission_form_is_compared():
    compared = {c["refused"] for c in PREVIEWED if "refused" in c}
    both = {r.name for r in ADMISSION_RULES if r.check is not None}
    assert both <= compared


@pytest.mark.parametrize("case", [c for c in CASES["cases"] if c.get("enforcer") == "pod-security"], ids=lambda c: c["name"])
def test_pod_security_cases_meet_an_enforcing_namespace(case):
    # Kubernetes' own Pod Security admission refuses these (the e2e suite checks its message); here:
    # the namespace enforces a level that refuses them, and no admission policy of ours is involved.
    _, namespaces = emitted()
    assert namespaces[case["object"]["metadata"]["namespace"]]["pod-security.kubernetes.io/enforce"] in ("restricted", "baseline")
    assert admission_refusals(case) == []


# --- Parameters ----------------------------------------------------------------------------------


def test_a_namespace_without_parameters_is_refused_what_needs_them():
    """A removed tenant's retained namespace (still labelled) finds no parameters: frozen, not open."""
    objects, _ = emitted()
    without_shop = [o if o["kind"] != "ConfigMap" else {**o, "data": {k: v for k, v in o["data"].items() if not k.startswith("shop.")}} for o in objects]
    web_service = next(c for c in ACCEPTED if c["name"] == "route-own-host-through-own-gateway")
    assert admission_refusals(web_service, without_shop) == [RULE_BY_NAME["virtual-service-own-hosts"].message]
    missing = [o for o in objects if o["kind"] != "ConfigMap"]
    assert admission_refusals(web_service, missing) == ["istio-multitenancy-virtual-service-own-hosts: no params"]


def test_only_removed_tenants_namespaces_are_frozen_and_deletions_there_never_need_parameters():
    """The frozen rule reads no parameters: without them the namespace controller could delete nothing."""
    (binding,) = [b for _, b in admission_objects(config())[1] if b["metadata"]["name"] == "istio-multitenancy-removed-tenant-frozen"]
    assert "paramRef" not in binding["spec"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
        {"key": TENANT_LABEL, "operator": "Exists"}, {"key": TENANT_LABEL, "operator": "NotIn", "values": ["bank", "shop"]},
    ]
    objects, _ = emitted()
    missing = [o for o in objects if o["kind"] != "ConfigMap"]
    frozen_delete = next(c for c in REFUSED if c["name"] == "frozen-namespace-loses-a-config-map")
    assert admission_refusals(frozen_delete, missing) == [RULE_BY_NAME["removed-tenant-frozen"].message]
    cleanup = {**frozen_delete, "as": "deployer"}
    assert admission_refusals(cleanup, missing) == []


def test_params_hold_each_tenants_data_under_its_namespace():
    data = admission_params(config())["data"]
    assert data["shop.hosts"] == r"^(shop\.example\.com|.+\.shop\.example\.com)$"
    assert data["bank-ns.hosts"] == "^$" and data["bank-ns.anyHost"] == "true"
    assert data["shop.gateway"] == "shop-gw" and data["shop.gatewayLabels"] == "\napp=gw-shop\nistio=gw-shop\n"
    assert data["shop.nodePorts"] == "false" and data["bank-ns.nodePorts"] == "true"
    assert "shop.export.catalog" in data and not any(k.startswith("bank-ns.export.") for k in data)
    assert admission_params(config())["metadata"] == {
        "name": PARAMS_NAME, "namespace": "istio-system",
        "labels": {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "istio-multitenancy"},
    }


def test_the_host_pattern_is_istios_wildcard_matching():
    import re

    (shop,) = [t for t in config().tenants if t.name == "shop"]
    pattern = re.compile(host_pattern(shop))
    assert pattern.match("shop.example.com") and pattern.match("a.shop.example.com") and pattern.match("a.b.shop.example.com")
    assert pattern.match("*.eu.shop.example.com")
    assert not pattern.match("shop.example.org") and not pattern.match("xshop.example.com") and not pattern.match(".shop.example.com")


# --- The objects ------------------------------------------------------------------------------


def test_admission_objects_validate_against_kubernetes_schemas():
    objects, _ = emitted()
    assert {o["kind"] for o in objects} == {"ConfigMap", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    assert {f"{o['kind']} {o['metadata']['name']}": schema_errors(o) for o in objects} == {
        f"{o['kind']} {o['metadata']['name']}": [] for o in objects
    }


def test_bindings_scope_rules_to_tenant_namespaces_by_label():
    _, rules = admission_objects(config())
    for policy, binding in rules:
        selector = binding["spec"].get("matchResources", {}).get("namespaceSelector")
        if policy["metadata"]["name"].endswith("tenant-namespace-labels"):
            assert selector is None  # a tenant removing its own label must still meet the rule
        elif policy["metadata"]["name"].endswith("removed-tenant-frozen"):
            assert selector["matchExpressions"][0] == {"key": TENANT_LABEL, "operator": "Exists"}  # and not a listed tenant's
        else:
            assert selector == {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]}
        assert binding["spec"]["validationActions"] == ["Deny"] and policy["spec"]["failurePolicy"] == "Fail"


def test_the_isolation_pages_table_is_the_rules_table():
    from rules.table import TABLE_BEGIN, TABLE_PAGE, rules_table
    from render.engine import PROJECT_ROOT

    assert TABLE_PAGE == PROJECT_ROOT / "docs" / "isolation.md"
    page = TABLE_PAGE.read_text(encoding="utf-8")
    assert page.count(TABLE_BEGIN) == 1
    assert rules_table() in page, "docs/isolation.md's rules table is out of date: run `python -m rules.table`"
    for rule in RULES:  # every rule says where it is enforced, from the known places
        assert rule.enforced and set(rule.enforced) <= {"tenants file", "preview", "admission", "mesh", "Pod Security", "NetworkPolicy"}
        assert ("admission" in rule.enforced) == (rule.admission is not None) or rule.name in ADMISSION_BY_OTHER_RULES
        assert ("preview" in rule.enforced) == (rule.check is not None)


# Rules kept in the cluster by another rule's policy (the namespace labels) rather than their own.
ADMISSION_BY_OTHER_RULES = {"tenant-namespace-injection"}


def test_the_params_keeper_judges_nothing_and_validates():
    policy, binding = params_keeper(config())
    assert schema_errors(policy) == [] and schema_errors(binding) == []
    # Bound to a ConfigMap kind (what keeps the API server resolving the rules' parameters) ...
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["paramRef"]["parameterNotFoundAction"] == "Allow"
    # ... but matching only a group no API server can serve (RFC 2606 reserves .invalid).
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert all(group.endswith(".invalid") for rule in rules for group in rule["apiGroups"])
    assert policy["spec"]["failurePolicy"] == "Ignore"
    assert policy["metadata"]["name"] not in {p["metadata"]["name"] for p, _ in admission_objects(config())[1]}
