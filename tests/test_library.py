"""istio-multitenancy used as a library: one validated way in, and a program of one's own."""

from __future__ import annotations

import pytest
import yaml

from render.engine import PROJECT_ROOT, run_program, run_program_file
from render.output import kubernetes_objects
from tenants import ConfigError, TenantsFile, load_tenants, parse_tenants

EXAMPLE = PROJECT_ROOT / "examples" / "library"
TWO_IN_ISTIO_SYSTEM = {"tenants": [{"name": "a", "namespace": "istio-system"}, {"name": "b", "namespace": "istio-system"}]}
IN_ISTIO_SYSTEM = [
    "namespace 'istio-system' is the control-plane namespace; a tenant needs a namespace of its own",
    "namespace 'istio-system' is already used by tenant 'a'; each tenant needs its own",
]


def test_the_model_itself_refuses_what_the_rules_across_tenants_refuse():
    for build in (lambda: TenantsFile.model_validate(TWO_IN_ISTIO_SYSTEM), lambda: TenantsFile(**TWO_IN_ISTIO_SYSTEM)):
        with pytest.raises(ConfigError) as caught:
            build()
        assert str(caught.value).splitlines() == [
            f"TenantsFile: tenants[a].namespace: {IN_ISTIO_SYSTEM[0]}",
            f"TenantsFile: tenants[b].namespace: {IN_ISTIO_SYSTEM[1]}",
            f"TenantsFile: tenants[b].namespace: {IN_ISTIO_SYSTEM[0]}",
        ]


def test_a_mapping_gets_every_rule_and_every_mistake_at_once():
    data = {"tenants": [*TWO_IN_ISTIO_SYSTEM["tenants"], {"name": "c", "gateway": {"servers": [{"port": "80"}]}}]}
    with pytest.raises(ConfigError) as caught:
        parse_tenants(data, source="platform.tenants")
    assert str(caught.value).splitlines() == [
        f"platform.tenants: tenants[a].namespace: {IN_ISTIO_SYSTEM[0]}",
        f"platform.tenants: tenants[b].namespace: {IN_ISTIO_SYSTEM[1]}",
        f"platform.tenants: tenants[b].namespace: {IN_ISTIO_SYSTEM[0]}",
        "platform.tenants: tenants[c].gateway.servers[0].port: '80' is a string; expected a whole number from 1 to 65535: "
        "write it without quotes",
    ]


def test_a_file_its_text_and_its_data_give_one_model():
    path = PROJECT_ROOT / "tenants" / "dev.yaml"
    text = path.read_text(encoding="utf-8")
    from_file = load_tenants(str(path))
    assert parse_tenants(text) == from_file
    assert parse_tenants(yaml.safe_load(text)) == from_file
    assert TenantsFile.model_validate(yaml.safe_load(text)) == from_file


def test_the_library_example_builds_the_mesh_the_program_builds():
    example = run_program_file(EXAMPLE / "__main__.py", "dev", {})
    tenants = load_tenants(EXAMPLE / "tenants.yaml")
    registered = [(r.type, r.name) for r in example.registrations if not r.type.startswith("kubernetes:")]
    assert sorted(registered) == sorted(
        [
            ("pulumi:pulumi:Stack", "istio-multitenancy-dev"),
            ("pulumi:providers:kubernetes", "cluster"),
            ("istio-multitenancy:index:IstioHelmInstall", "istio"),
            ("istio-multitenancy:index:PlatformControlPlane", tenants.control_plane.name),
            ("istio-multitenancy:index:TenantAdmission", "admission"),
        ]
        + [("istio-multitenancy:index:TenantMesh", t.name) for t in tenants.tenants]
    )
    assert example.outputs == {"namespaces": {"shop": "shop", "payments": "payments"}}
    # Every object the stack's own program makes of the same file, each under the same component.
    program = run_program("dev", str(EXAMPLE / "tenants.yaml"))
    assert kubernetes_objects(example) == kubernetes_objects(program)
    assert _objects_by_parent(example) == _objects_by_parent(program)


def _objects_by_parent(run) -> set[tuple[str, str]]:
    return {(r.parent.rsplit("::", 1)[-1], r.name) for r in run.registrations if r.is_kubernetes_object}
