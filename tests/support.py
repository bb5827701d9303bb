"""Shared test helpers: run the program under mocks, look objects up, validate them upstream."""

from __future__ import annotations

import copy
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import jsonschema
import kubernetes_validate
import yaml

from render.engine import PROJECT_ROOT, ProgramRun, Registration, run_program
from render.output import CHART_TYPE, kubernetes_objects, plain
from tests import reference as reference_data

# ../shared/reference, or the checked download of its files (tests/reference.py).
REFERENCE = reference_data.root()
KUBERNETES_VERSION = "1.30"
ISTIO_CRDS = {
    "1.23.6": REFERENCE / "istio" / "crd-all.gen.yaml",
    "1.30.3": REFERENCE / "istio" / "1.30.3" / "crd-all.gen.yaml",
}
ISTIO_OPERATOR_SCHEMA = REFERENCE / "istio" / "istiooperator-1.23.6.schema.json"
# The same, as a stack file names a local directory: relative to the project.
REFERENCE_RELATIVE = os.path.relpath(REFERENCE, PROJECT_ROOT)


def reference(*parts: str) -> Path:
    """A reference file or directory; a missing one fails the test (never skips it), in one line."""
    return reference_data.path(*parts)


def reference_params(make, id_of) -> list:
    """Test parameters read from reference data while collecting. Without the data, one parameter
    holding why, which conftest.py fails in one line: an error while collecting would stop the run."""
    import pytest

    try:
        return [pytest.param(value, id=id_of(value)) for value in make()]
    except (reference_data.ReferenceMissing, reference_data.NotInManifest) as missing:
        return [pytest.param(missing, id="reference-missing")]


def run(stack: str = "dev", tenants_yaml: Optional[str] = None, tmp_path: Optional[Path] = None) -> ProgramRun:
    """Run the program for `stack`, optionally with a tenants file given as text."""
    tenants_file = None
    if tenants_yaml is not None:
        assert tmp_path is not None
        path = tmp_path / "tenants.yaml"
        path.write_text(tenants_yaml, encoding="utf-8")
        tenants_file = str(path)
    return run_program(stack, tenants_file)


# --- What an install method deploys ----------------------------------------------------------


def charts(program: ProgramRun) -> list[Registration]:
    """The Helm charts the program registered (kubernetes.helm.v4.Chart), by resource name."""
    return sorted((r for r in program.registrations if r.type == CHART_TYPE), key=lambda r: r.name)


def chart(program: ProgramRun, release: str, namespace: str) -> Registration:
    matches = [r for r in charts(program) if r.inputs.get("name") == release and r.inputs.get("namespace") == namespace]
    assert len(matches) == 1, f"expected one chart release {namespace}/{release}, found {len(matches)}"
    return matches[0]


def chart_values(program: ProgramRun, release: str, namespace: str) -> dict:
    return plain(chart(program, release, namespace).inputs.get("values") or {})


@dataclass(frozen=True)
class DeployedGateway:
    """An ingress gateway as the install deploys it, whichever the method: its resource and settings."""

    resource: Registration
    namespace: str
    labels: dict
    replicas: Optional[int]  # the autoscaler's floor, when the file sets one
    service: dict  # type, ports, annotations, as far as the install sets them


def deployed_gateway(program: ProgramRun, name: str, namespace: str) -> DeployedGateway:
    """The tenant (or control-plane) gateway `name` deployed into `namespace`: from its gateway chart
    (Helm) or its IstioOperator (operator)."""
    helm = [r for r in charts(program) if r.inputs.get("name") == name and r.inputs.get("namespace") == namespace]
    if helm:
        (resource,) = helm
        values = plain(resource.inputs["values"])
        autoscaling = values.get("autoscaling", {})
        return DeployedGateway(resource, namespace, values["labels"], autoscaling.get("minReplicas"), values["service"])
    operators = [
        r for r in program.registrations
        if r.is_kubernetes_object and r.inputs.get("kind") == "IstioOperator"
        for gateway in plain(r.inputs["spec"]).get("components", {}).get("ingressGateways", [])
        if gateway.get("name") == name and gateway.get("namespace", namespace) == namespace
    ]
    assert len(operators) == 1, f"expected one gateway {namespace}/{name} (chart or IstioOperator), found {len(operators)}"
    (resource,) = operators
    (gateway,) = [g for g in plain(resource.inputs["spec"])["components"]["ingressGateways"] if g["name"] == name]
    k8s = gateway.get("k8s", {})
    return DeployedGateway(resource, namespace, gateway.get("label", {}), k8s.get("hpaSpec", {}).get("minReplicas"), k8s.get("service", {}))


def objects(program: ProgramRun) -> list[dict]:
    return kubernetes_objects(program)


def find(objs: list[dict], kind: str, name: str, namespace: Optional[str] = None) -> dict:
    matches = [
        o for o in objs
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    ]
    assert len(matches) == 1, f"expected one {kind} {namespace}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o["kind"] == kind]


def registration_of(program: ProgramRun, kind: str, name: str, namespace: Optional[str] = None) -> Registration:
    matches = [
        r for r in program.registrations
        if r.is_kubernetes_object
        and r.inputs.get("kind") == kind
        and r.inputs["metadata"]["name"] == name
        and r.inputs["metadata"].get("namespace") == namespace
    ]
    assert len(matches) == 1, f"expected one registration of {kind} {namespace}/{name}, found {len(matches)}"
    return matches[0]


# --- Upstream schemas -------------------------------------------------------------------


def _strict(schema: dict) -> dict:
    """Reject unknown fields, as the API server would silently prune them (a silent bug)."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.lru_cache(maxsize=None)
def crd_schemas(istio_version: str) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> strict openAPIV3Schema, from Istio's crd-all.gen.yaml."""
    out = {}
    path = ISTIO_CRDS[istio_version]
    reference(path.relative_to(REFERENCE).as_posix())
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
        for version in doc["spec"]["versions"]:
            out[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return out


# The Gateway API release Istio 1.30 builds against: its standard channel, and from the
# experimental channel only TCPRoute (not in the standard channel of v1.5.1).
GATEWAY_API_VERSION = "v1.5.1"
GATEWAY_API_EXPERIMENTAL_KINDS = ("TCPRoute",)


def gateway_api_crds() -> list[dict]:
    """The CustomResourceDefinitions a cluster gets: the standard channel, plus TCPRoute."""
    root = reference("gateway-api", GATEWAY_API_VERSION)
    crds = []
    for path in [*sorted(root.glob("*.yaml")), *sorted((root / "experimental").glob("*.yaml"))]:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            channel = doc["metadata"]["annotations"]["gateway.networking.k8s.io/channel"]
            if channel == "standard" or doc["spec"]["names"]["kind"] in GATEWAY_API_EXPERIMENTAL_KINDS:
                crds.append(doc)
    return crds


@functools.lru_cache(maxsize=None)
def _gateway_api_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> strict openAPIV3Schema of every version the CRDs serve."""
    out = {}
    for doc in gateway_api_crds():
        group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
        for version in doc["spec"]["versions"]:
            if version["served"]:
                out[(f"{group}/{version['name']}", kind)] = _strict(version["schema"]["openAPIV3Schema"])
    return out


@functools.lru_cache(maxsize=None)
def _istio_operator_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(reference("istio", "istiooperator-1.23.6.schema.json").read_text())
    # The schema is derived from the protos, where IntOrString is a message; Istio (un)marshals it
    # as Kubernetes' intstr (istio.io/api operator/v1alpha1 IntOrString.UnmarshalJSONPB): a plain
    # integer or string, as `targetPort: 8080` in every IstioOperator that sets gateway ports.
    schema["$defs"]["op.IntOrString"] = {"type": ["integer", "string"]}
    return jsonschema.Draft202012Validator(schema)


def _crd_errors(obj: dict, schema: dict) -> list[str]:
    errors = [f"unknown top-level field {key!r}" for key in obj if key not in ("apiVersion", "kind", "metadata", "spec")]
    validator = jsonschema.Draft7Validator(schema)
    body = {key: value for key, value in obj.items() if key == "spec"}
    errors += [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    return errors


SAIL_CHART = ("sail-operator", "1.30.3", "chart")


@functools.lru_cache(maxsize=None)
def sail_crd(plural: str) -> dict:
    return yaml.safe_load(reference(*SAIL_CHART, "crds", f"sailoperator.io_{plural}.yaml").read_text())


@functools.lru_cache(maxsize=None)
def _sail_schemas() -> dict[tuple[str, str], dict]:
    out = {}
    for plural in ("istios", "istiorevisiontags", "istiorevisions", "istiocnis", "ztunnels"):
        crd = sail_crd(plural)
        for version in crd["spec"]["versions"]:
            out[(f"sailoperator.io/{version['name']}", crd["spec"]["names"]["kind"])] = _strict(version["schema"]["openAPIV3Schema"])
    return out


def sail_schema_errors(obj: dict) -> list[str]:
    """Every way `obj` breaks its Sail CRD (structural schema, and the CEL rule the Istio CRD carries)."""
    schema = _sail_schemas().get((obj["apiVersion"], obj["kind"]))
    if schema is None:
        return [f"Sail serves no {obj['apiVersion']} {obj['kind']}"]
    errors = _crd_errors(obj, schema)
    if obj["kind"] == "Istio":
        # x-kubernetes-validations on Istio.spec: values.global.istioNamespace == spec.namespace
        spec = obj["spec"]
        namespace = spec.get("values", {}).get("global", {}).get("istioNamespace")
        if namespace is not None and namespace != spec.get("namespace", "istio-system"):
            errors.append("spec.values.global.istioNamespace must match spec.namespace")
    return errors


def schema_errors(obj: dict, kubernetes_version: str = KUBERNETES_VERSION, istio_versions: tuple[str, ...] = tuple(ISTIO_CRDS)) -> list[str]:
    """Every way `obj` breaks its upstream schema; [] when it validates. Unknown kinds are an error.

    The program's own Istio objects must hold on every Istio release it installs (`istio_versions`)."""
    key = (obj["apiVersion"], obj["kind"])
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    if key == ("install.istio.io/v1alpha1", "IstioOperator"):
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _istio_operator_validator().iter_errors(obj)]
    if group.endswith(".istio.io"):
        errors = []
        for version in istio_versions:
            schema = crd_schemas(version).get(key)
            if schema is None:
                errors.append(f"Istio {version} serves no {key}")
            else:
                errors += [f"(Istio {version}) {e}" for e in _crd_errors(obj, schema)]
        return errors
    if group == "sailoperator.io":
        return sail_schema_errors(obj)
    if group == "gateway.networking.k8s.io":
        schema = _gateway_api_schemas().get(key)
        return [f"Gateway API serves no {key}"] if schema is None else _crd_errors(obj, schema)
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [f"{'/'.join(map(str, err.path))}: {err.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no upstream schema for {key}"]
    return []
