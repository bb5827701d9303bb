"""The admission cases (tests/admission/cases.yaml) replayed on the real API server: the program's
ValidatingAdmissionPolicies, bindings and parameters for tests/admission/tenants.yaml applied for
real, then each request sent with `--dry-run=server` as its user (`--as`, `--as-group`). The unit
suite evaluates the same cases through CEL evaluators in Python; here the API server decides."""

from __future__ import annotations

import sys

import pytest
import yaml

from harness.procs import run, wait_until
from harness.state import resource_arg

from conftest import BUILD, REFERENCE, ROOT

from builders.admission import PARAMS_NAME, policy_name
from rules.table import RULES

CASES = yaml.safe_load((ROOT / "tests" / "admission" / "cases.yaml").read_text(encoding="utf-8"))
TENANTS_FILE = ROOT / "tests" / "admission" / "tenants.yaml"
RULE_BY_NAME = {rule.name: rule for rule in RULES}
CRD_FILES = [REFERENCE / "istio" / "1.30.3" / "crd-all.gen.yaml",
             *sorted((REFERENCE / "gateway-api" / "v1.5.1").glob("gateway.networking.k8s.io_*.yaml"))]
FIELD_MANAGER = "e2e-admission"
# What `admin` lacks that the cases need, granted on top (cases.yaml's `rbac`), bound in the
# tenant's namespace; creating a namespace is in no namespace, so that one grant is cluster-wide.
TENANT_ROLE = "e2e-admission-tenant-extra"
NAMESPACE_CREATOR_ROLE = "e2e-admission-namespace-creator"


def _crds() -> list[dict]:
    return [d for p in CRD_FILES for d in yaml.safe_load_all(p.read_text()) if d and d.get("kind") == "CustomResourceDefinition"]


# cert-manager's CRDs are not in ../shared/reference: the replay declares its namespaced kinds with
# open schemas, so that its cases reach admission (which reads the request as sent; cert-manager's
# own validation is not what these cases test).
CERT_MANAGER_KINDS = (
    ("cert-manager.io", "Certificate", "certificates"), ("cert-manager.io", "CertificateRequest", "certificaterequests"),
    ("cert-manager.io", "Issuer", "issuers"), ("acme.cert-manager.io", "Order", "orders"),
    ("acme.cert-manager.io", "Challenge", "challenges"),
)


def _open_crd(group: str, kind: str, plural: str) -> dict:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema}],
        },
    }


CRDS = _crds()
CRDS += [_open_crd(*k) for k in CERT_MANAGER_KINDS if (k[0], k[1]) not in {(c["spec"]["group"], c["spec"]["names"]["kind"]) for c in CRDS}]
BUILT_IN_GROUPS = {"", "apps", "networking.k8s.io", "rbac.authorization.k8s.io"}
SERVED = {(c["spec"]["group"], c["spec"]["names"]["kind"]) for c in CRDS}


def _group_kind(case: dict) -> tuple[str, str]:
    obj = case.get("object") or case["oldObject"]
    return obj["apiVersion"].rpartition("/")[0], obj["kind"]


def _no_crd(case: dict) -> bool:
    group, kind = _group_kind(case)
    return group not in BUILT_IN_GROUPS and (group, kind) not in SERVED


SKIPPED = [c["name"] for c in CASES["cases"] if _no_crd(c)]
SKIP_REASON = (f"no CRD for {sorted({'/'.join(_group_kind(c)) for c in CASES['cases'] if _no_crd(c)})} in "
               f"../shared/reference: {', '.join(SKIPPED)}")


# Cases the API server refuses before admission: the request is not one a client can make.
UNREACHABLE = {
    "ingress-annotated-istio": 'The Ingress "public" is invalid: annotations.kubernetes.io/ingress.class: Invalid value: '
    '"istio": must match `ingressClassName` when both are specified',
}


def _marks(case: dict) -> tuple:
    if _no_crd(case):
        return (pytest.mark.skip(reason=SKIP_REASON),)
    return ()


def _params(cases: list[dict]) -> list:
    return [pytest.param(c, id=c["name"], marks=_marks(c)) for c in cases]


REFUSED = [c for c in CASES["cases"] if "refused" in c]
ACCEPTED = [c for c in CASES["cases"] if "refused" not in c]


def _dump(*objects: dict) -> str:
    return yaml.safe_dump_all(list(objects), sort_keys=False)


def _admins() -> dict[str, str]:
    """username -> the namespace it administers, from the tenants file."""
    doc = yaml.safe_load(TENANTS_FILE.read_text(encoding="utf-8"))
    result = {}
    for tenant in doc["tenants"]:
        for user in (tenant.get("admins") or {}).get("users", []):
            result[user] = tenant.get("namespace") or tenant["name"]
    return result


def _admin_bindings(user: str, namespace: str) -> list[dict]:
    """`admin` and the cases' extra rights for `user` in `namespace`."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": f"e2e-{user.split('@')[0]}-{role}", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
        for role in ("admin", TENANT_ROLE)
    ]


def _rbac() -> list[dict]:
    rules = CASES["rbac"]
    cluster_rules = [r for r in rules if r["resources"] == ["namespaces"]]
    objects: list[dict] = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": TENANT_ROLE}, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": NAMESPACE_CREATOR_ROLE},
         "rules": [{**r, "verbs": ["create"]} for r in cluster_rules]},
    ]
    user_kind = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User"}
    for user, namespace in sorted(_admins().items()):
        slug = user.split("@")[0]
        objects += _admin_bindings(user, namespace)
        objects.append({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": f"e2e-{slug}-{NAMESPACE_CREATOR_ROLE}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAMESPACE_CREATOR_ROLE},
            "subjects": [{**user_kind, "name": user}],
        })
    # Identities the cases give cluster-wide rights (cert-manager's controller, whose real role is as broad).
    for key, user in sorted(CASES["users"].items()):
        if user.get("clusterAdmin"):
            objects.append({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": f"e2e-{key}-cluster-admin"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{**user_kind, "name": user["username"]}],
            })
    # The platform's deployer (a platform identity in the tenants file) acts cluster-wide.
    deployer = CASES["users"]["deployer"]["username"]
    objects.append({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "e2e-deployer-cluster-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{**user_kind, "name": deployer}],
    })
    return objects


def _fixtures() -> list[dict]:
    """What the cases expect the cluster to hold besides the program's objects: each retained
    namespace of a removed tenant (labelled as its, its admins still bound there) and the
    PriorityClasses the cases name."""
    objects: list[dict] = []
    for retained in CASES["retained"]:
        ns = retained["namespace"]
        objects.append({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns, "labels": {"istio-multitenancy.io/tenant": retained["tenant"],
                                                            "pod-security.kubernetes.io/enforce": "restricted"}}})
        for user in retained["admins"]:
            objects += _admin_bindings(user, ns)
    for value, name in enumerate(CASES["priorityClasses"]):
        objects.append({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": 1000 + value})
    return objects


def _as(case: dict) -> list[str]:
    user = CASES["users"][case["as"]]
    return [f"--as={user['username']}", *(f"--as-group={g}" for g in user["groups"])]


def send(kube, case: dict):
    """The case's request, as its user, with `--dry-run=server`: the API server's verdict, nothing stored."""
    verb = {"CREATE": "create", "UPDATE": "replace", "DELETE": "delete"}[case["operation"]]
    obj = case["oldObject"] if case["operation"] == "DELETE" else case["object"]
    return kube(verb, "--dry-run=server", *_as(case), "-f", "-", input=_dump(obj), check=False)


def _apply(kube, objects: list[dict]) -> None:
    kube("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-f", "-", input=_dump(*objects), timeout=180)


def prepare(kube, case: dict) -> None:
    """What exists before the request: its `oldObject` (as the deployer made it), or, for a create,
    nothing of that name (another case's `oldObject` may have made one)."""
    if case.get("oldObject"):
        _apply(kube, [case["oldObject"]])
    elif case["operation"] == "CREATE":
        obj = case["object"]
        ns = ["-n", obj["metadata"]["namespace"]] if obj["metadata"].get("namespace") else []
        kube("delete", resource_arg(obj["apiVersion"], obj["kind"]), obj["metadata"]["name"], *ns,
             "--ignore-not-found", "--wait=true", timeout=120)


def _refused_by(result, case: dict) -> bool:
    return result.returncode != 0 and expected_message(case) in result.stderr


def expected_message(case: dict, namespaces: list[dict] = ()) -> str:
    """The rule's message; for Pod Security's refusals, its own, at the level the namespace enforces."""
    if case.get("enforcer") == "pod-security":
        (labels,) = [n["metadata"].get("labels", {}) for n in namespaces if n["metadata"]["name"] == case["object"]["metadata"]["namespace"]]
        return f'violates PodSecurity "{labels["pod-security.kubernetes.io/enforce"]}:'
    return RULE_BY_NAME[case["refused"]].message


@pytest.fixture(scope="module")
def admission(e2e):
    """The admission as the program renders it for the cases' tenants file, in effect."""
    kube = e2e.kube
    out = BUILD / "render" / "admission"
    run([sys.executable, "-m", "render", "dev", "--tenants", str(TENANTS_FILE), "--out", str(out), "--no-expand"],
        cwd=str(ROOT), env=dict(e2e.kube.env), timeout=300)
    objects = [d for d in yaml.safe_load_all((out / "manifests.yaml").read_text()) if d]
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    params = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == PARAMS_NAME]
    policies = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicy"]
    bindings = [o for o in objects if o["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert namespaces and len(params) == 1 and policies and len(policies) == len(bindings)
    rbac = _rbac()
    fixtures = _fixtures()
    retained = [o for o in fixtures if o["kind"] == "Namespace"]
    try:
        _apply(kube, CRDS)
        kube("wait", "--for=condition=Established", "--timeout=120s", *(f"crd/{c['metadata']['name']}" for c in CRDS), timeout=180)
        _apply(kube, [*namespaces, *retained, *params, *rbac, *[o for o in fixtures if o["kind"] != "Namespace"], *policies, *bindings])
        # A policy is enforced once the API server has loaded and compiled it: poll one refusal of each
        # rule (one request sent as a tenant admin) until refused; the per-case tests judge the rest.
        witnesses = {}
        for case in REFUSED:
            if not _no_crd(case) and case.get("enforcer") != "pod-security" and case["name"] not in UNREACHABLE:
                witnesses.setdefault(case["refused"], case)
        pending = dict(witnesses)

        def all_enforced() -> bool:
            for rule, case in list(pending.items()):
                prepare(kube, case)
                if _refused_by(send(kube, case), case):
                    del pending[rule]
            return not pending

        try:
            wait_until(all_enforced, 60, "the admission policies to be enforced", interval=0.5)
        except AssertionError:
            pass  # the per-case tests below fail with the server's own answer
        yield {"namespaces": namespaces, "policies": policies}
    finally:
        kube.delete_namespaces(sorted(o["metadata"]["name"] for o in [*namespaces, *retained]))
        for obj in [*bindings, *policies, *rbac, *fixtures]:
            if not obj["metadata"].get("namespace"):
                kube("delete", resource_arg(obj["apiVersion"], obj["kind"]), obj["metadata"]["name"], "--ignore-not-found", check=False)
        kube("delete", "crd", *(c["metadata"]["name"] for c in CRDS), "--ignore-not-found", "--wait=true", timeout=180, check=False)


def test_the_replay_covers_what_the_issue_asks():
    refused = [c for c in REFUSED if not _no_crd(c) and c["name"] not in UNREACHABLE]
    accepted = [c for c in ACCEPTED if not _no_crd(c)]
    assert len(refused) >= 25 and len(accepted) >= 10, (len(refused), len(accepted))


@pytest.mark.parametrize("case", _params(REFUSED))
def test_forbidden_request_is_refused_with_its_rules_message(admission, e2e, case):
    prepare(e2e.kube, case)
    result = send(e2e.kube, case)
    assert result.returncode != 0, f"accepted:\n{result.describe()}"
    if case["name"] in UNREACHABLE and UNREACHABLE[case["name"]] in result.stderr:
        pytest.xfail(f"refused before admission, by the API server's own validation: {UNREACHABLE[case['name']]}")
    assert expected_message(case, admission["namespaces"]) in result.stderr, result.describe()
    if case.get("enforcer") != "pod-security":
        assert f"'{policy_name(RULE_BY_NAME[case['refused']])}'" in result.stderr, result.describe()


@pytest.mark.parametrize("case", _params(ACCEPTED))
def test_ordinary_request_is_accepted(admission, e2e, case):
    prepare(e2e.kube, case)
    result = send(e2e.kube, case)
    assert result.returncode == 0, result.describe()
