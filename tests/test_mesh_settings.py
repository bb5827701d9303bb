"""The shared mesh hardening is made of fields Istio knows, on both install paths' versions."""

from __future__ import annotations

import functools

import jsonschema
import yaml

from builders.mesh_settings import hardened_mesh_config, hardened_pilot_env
from tests.support import _strict, reference


@functools.lru_cache(maxsize=None)
def _istio_values_schema() -> dict:
    """Istio 1.30.3's `values` schema (MeshConfig and all), as the Sail operator's Istio CRD carries it."""
    crd = yaml.safe_load(reference("sail-operator", "1.30.3", "chart", "crds", "sailoperator.io_istios.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    return _strict(version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["values"])


def test_the_mesh_config_validates_against_istio_1_30s_mesh_config_schema():
    values = {"meshConfig": hardened_mesh_config(), "pilot": {"env": hardened_pilot_env()}}
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in jsonschema.Draft7Validator(_istio_values_schema()).iter_errors(values)]
    assert errors == []


def test_a_misspelt_mesh_config_field_would_be_caught():
    # The strict schema refuses what Istio would ignore: the check above can fail.
    wrong = {"meshConfig": {**hardened_mesh_config(), "defaultVirtualServicesExportTo": ["."]}}
    assert list(jsonschema.Draft7Validator(_istio_values_schema()).iter_errors(wrong))


def test_istiod_env_values_are_strings():
    # Kubernetes env values are strings; a YAML boolean would fail the Deployment.
    assert all(isinstance(v, str) for v in hardened_pilot_env().values())
