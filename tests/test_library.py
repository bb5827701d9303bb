"""istio-multitenancy used as a library: one validated way in, and a program of one's own."""

from __future__ import annotations

import json

import pytest
import yaml

from render.engine import PROJECT_ROOT, run_program, run_program_file
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


def test_the_library_example_registers_what_the_program_registers():
    """Types, names, parents, providers, dependencies, options and inputs (the provider's
    enableConfigMapMutable among them), resource by resource, and the stack outputs."""
    example = run_program_file(EXAMPLE / "__main__.py", "dev", {})
    program = run_program_file(PROJECT_ROOT / "__main__.py", "dev", {"istio-multitenancy:tenantsFile": str(EXAMPLE / "tenants.yaml")})
    assert _registration(example) == _registration(program)
    assert example.outputs == program.outputs
    tenants = load_tenants(EXAMPLE / "tenants.yaml")
    by_type = {}
    for r in example.registrations:
        by_type.setdefault(r.type, []).append(r)
    assert sorted(r.name for r in by_type["istio-multitenancy:index:TenantMesh"]) == sorted(t.name for t in tenants.tenants)
    # What the first version of the example left out: the Gateway API's CRDs, which the Gateway API
    # tenant's objects wait for, and a provider that updates ConfigMaps in place.
    [crds] = by_type["istio-multitenancy:index:GatewayApiCrds"]
    [provider] = by_type["pulumi:providers:kubernetes"]
    assert provider.inputs.get("enableConfigMapMutable") in (True, "true")
    gateway = next(r for r in example.registrations if r.type.endswith(":Gateway") and r.type.startswith("kubernetes:gateway"))
    crd_group = next(r for r in example.registrations if r.parent == crds.urn)
    assert crd_group.urn in gateway.dependencies


def _registration(run) -> list[tuple]:
    return sorted(
        (r.urn, r.type, r.parent, r.provider, tuple(r.dependencies), r.protect, r.retain_on_delete,
         r.delete_before_replace, json.dumps(r.aliases, sort_keys=True), json.dumps(r.inputs, sort_keys=True, default=str))
        for r in run.registrations
    )
