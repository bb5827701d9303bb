"""With a real `helm` (HELM_BIN, else on PATH): every chart of the Helm path, templated with the
program's values from Istio 1.30.3's charts, renders, and everything it renders validates upstream.

Skipped where no helm is at hand (`make test` must pass without Go or the built tools); the render
plumbing itself is tested with a stand-in in tests/test_render_charts.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from builders.helm_values import gateway_service_await
from builders.meta import TENANT_LABEL, resource_type
from builders.tenant import gateway_service_ports
from rules.invariants import Platform
from rules.table import evaluate
from render.charts import KUBERNETES_VERSION, Expansion, expand, helm_binary, template
from render.engine import PROJECT_ROOT, ProgramRun, run_program
from tenants.loader import parse_tenants
from tests.support import charts, plain, reference, schema_errors
from tests.test_install_paths import HELM_TENANTS

HELM = helm_binary()
pytestmark = pytest.mark.skipif(HELM is None, reason="no helm (set HELM_BIN or put helm on PATH)")
KUBE = KUBERNETES_VERSION.rsplit(".", 1)[0]  # kubernetes-validate's "1.32"


def _project(root: Path, tenants: str, stack_tenants: str = "tenants/dev.yaml") -> Path:
    """The project with a stack `charts` pointing at the reference charts, as tests and e2e do."""
    for name in ("__main__.py", "tenants", "builders", "components"):
        (root / name).symlink_to(PROJECT_ROOT / name)
    if tenants:
        (root / "tenants.yaml").write_text(tenants, encoding="utf-8")
        stack_tenants = str(root / "tenants.yaml")
    (root / "Pulumi.charts.yaml").write_text(
        "config:\n"
        f"  istio-multitenancy:tenantsFile: {stack_tenants}\n"
        f"  istio-multitenancy:chartDirectory: {reference('istio', '1.30.3', 'charts')}\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="module", params=["dev", "prod", "features"])
def expanded(request, tmp_path_factory) -> tuple[ProgramRun, list[Expansion], str]:
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "features":
        _project(root, HELM_TENANTS)
        text = HELM_TENANTS
    else:
        _project(root, "", f"tenants/{request.param}.yaml")
        text = (PROJECT_ROOT / "tenants" / f"{request.param}.yaml").read_text(encoding="utf-8")
    program = run_program("charts", root=root)
    return program, expand(program, HELM, root), text


def test_every_chart_renders(expanded):
    program, expansions, _ = expanded
    assert len(expansions) == len(charts(program)) >= 5
    assert {e.chart.name: e.status for e in expansions if not e.expanded} == {}
    assert all(e.objects for e in expansions)


def test_everything_the_charts_render_validates_upstream(expanded):
    _, expansions, _ = expanded
    problems = {}
    for expansion in expansions:
        for obj in expansion.objects:
            errors = schema_errors(obj, KUBE, istio_versions=("1.30.3",))
            if errors:
                problems[f"{expansion.chart.name}: {obj['kind']} {obj['metadata'].get('namespace')}/{obj['metadata']['name']}"] = errors
    assert problems == {}


def _objects(expansions: list[Expansion], chart_name: str) -> list[dict]:
    (expansion,) = [e for e in expansions if e.chart.name.endswith(f"/{chart_name}")]
    return expansion.objects


def _one(objects: list[dict], kind: str, name: str = "") -> dict:
    (obj,) = [o for o in objects if o["kind"] == kind and (not name or o["metadata"]["name"] == name)]
    return obj


def test_base_installs_istios_crds_unchanged(expanded):
    _, expansions, _ = expanded
    crds = [o for o in _objects(expansions, "istio-base") if o["kind"] == "CustomResourceDefinition"]
    upstream = [d for d in yaml.safe_load_all(reference("istio", "1.30.3", "crd-all.gen.yaml").read_text()) if d]
    assert {c["metadata"]["name"]: c["spec"] for c in crds} == {u["metadata"]["name"]: u["spec"] for u in upstream}


def test_istiod_runs_the_chosen_release_with_gateway_scoping_and_cni(expanded):
    _, expansions, _ = expanded
    objects = _objects(expansions, "istiod")
    (container,) = _one(objects, "Deployment", "istiod")["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "docker.io/istio/pilot:1.30.3"
    assert {"name": "PILOT_SCOPE_GATEWAY_TO_NAMESPACE", "value": "true"} in container["env"]
    injector = yaml.safe_load(_one(objects, "ConfigMap", "istio-sidecar-injector")["data"]["values"])
    assert injector["pilot"]["cni"]["enabled"] is True  # no istio-init container: pods need no NET_ADMIN
    (cni,) = _one(_objects(expansions, "istio-cni"), "DaemonSet")["spec"]["template"]["spec"]["containers"]
    assert cni["image"] == "docker.io/istio/install-cni:1.30.3"


def test_only_istiods_service_skips_the_providers_await(expanded):
    """Its Deployment keeps the provider's readiness await (builders/helm_values.istiod_release)."""
    _, expansions, _ = expanded
    skipping = [
        (o["kind"], o["metadata"]["name"]) for o in _objects(expansions, "istiod")
        if (o["metadata"].get("annotations") or {}).get("pulumi.com/skipAwait")
    ]
    assert skipping == [("Service", "istiod")]


def test_each_tenant_gateway_is_what_the_tenants_file_says(expanded):
    _, expansions, text = expanded
    for tenant in parse_tenants(text, "tenants.yaml").tenants:
        if tenant.uses_gateway_api:
            continue
        objects = _objects(expansions, tenant.gateway_name)
        deployment, service = _one(objects, "Deployment", tenant.gateway_name), _one(objects, "Service", tenant.gateway_name)
        assert {o["metadata"]["namespace"] for o in objects} == {tenant.namespace_name}
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert tenant.gateway_labels.items() <= pod_labels.items() and pod_labels[TENANT_LABEL] == tenant.name
        # The Service opens the health port and the declared servers' ports, nothing else.
        assert service["spec"]["ports"] == gateway_service_ports(tenant)
        assert service["spec"]["type"] == tenant.gateway.service.type.value
        # The file's annotations, with what the provider waits for on the Service (builders/helm_values.py).
        assert service["metadata"].get("annotations", {}) == {
            **gateway_service_await(tenant.gateway.service.type.value), **tenant.gateway.service.annotations
        }
        assert service["spec"]["selector"].items() <= pod_labels.items()
        autoscaler = _one(objects, "HorizontalPodAutoscaler")
        assert autoscaler["spec"]["minReplicas"] == (tenant.gateway.replicas or 1)


def test_the_policy_pack_passes_what_the_charts_render(expanded):
    """Under a real `pulumi up` each object a chart renders is a resource the pack sees."""
    program, expansions, text = expanded
    platform = Platform(parse_tenants(text, "tenants.yaml"))
    resources = [(r.urn, r.type, plain(r.inputs)) for r in program.registrations]
    resources += [
        (f"{e.chart.urn}::{obj['metadata'].get('namespace')}/{obj['metadata']['name']}", resource_type(obj["apiVersion"], obj["kind"]), obj)
        for e in expansions for obj in e.objects
    ]
    assert evaluate(resources, platform) == []


def test_templating_fails_loudly_on_a_bad_value(tmp_path):
    charts_dir = reference("istio", "1.30.3", "charts")
    inputs = {"name": "x", "chart": str(charts_dir / "gateway"), "namespace": "x", "values": {"replicaCount": "three"}}
    with pytest.raises(RuntimeError, match="values"):
        template(HELM, inputs, tmp_path)


def test_the_render_diff_compares_what_the_charts_render(tmp_path):
    """A tenant's gateway Service turned NodePort: the diff names the Service's field, in that tenant
    (with its quota and admission parameters, which follow)."""
    from render.diff import compare, format_report, load_render
    from render.output import manifests_yaml, resources_json

    def render(name: str, text: str) -> Path:
        root = _project(tmp_path / name, text)
        program = run_program("charts", root=root)
        expansions = expand(program, HELM, root)
        out = tmp_path / f"{name}-out"
        out.mkdir()
        (out / "manifests.yaml").write_text(manifests_yaml(program, expansions), encoding="utf-8")
        (out / "resources.json").write_text(resources_json(program, expansions), encoding="utf-8")
        return out

    dev = (PROJECT_ROOT / "tenants" / "dev.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(dev)
    document["tenants"][1]["gateway"]["service"] = {"type": "NodePort"}
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    report = compare(load_render(render("old", dev)), load_render(render("new", yaml.safe_dump(document))))
    # The platform's change: the tenant's admission parameters (its gateway may now be a NodePort).
    assert set(report.groups) == {"platform", "workspace-2"} and report.notes == []
    (params,) = report.groups["platform"].changed
    assert params.fields == ['data.workspace-2.gatewayNodePort: "false" -> "true"']
    quota, service = sorted(report.groups["workspace-2"].changed, key=lambda c: c.key[1])
    assert service.key == ("", "Service", "workspace-2", "wk2-ingressgw")
    # With no load balancer, the provider no longer waits for its address (gateway_service_await).
    assert service.fields == [
        'metadata.annotations.pulumi.com/skipAwait: (none) -> "true"',
        'metadata.annotations.pulumi.com/waitFor: "jsonpath={.status.loadBalancer.ingress}" -> (none)',
        'spec.type: "LoadBalancer" -> "NodePort"',
    ]
    # No load balancer left to count; the node ports stay (a NodePort Service takes as many).
    assert quota.key == ("", "ResourceQuota", "workspace-2", "tenant-quota")
    assert quota.fields == ['spec.hard.services.loadbalancers: "1" -> "0"']
    assert "~ Service workspace-2/wk2-ingressgw" in format_report(report, "old", "new")
