"""components/kubernetes.py registers objects through the SDK's generic class: the engine must
receive exactly what pulumi-kubernetes's own classes would send for the same object."""

from __future__ import annotations

import re

import pulumi
import pulumi_kubernetes as k8s
import pytest

from bench.mock_engine import run_under_mocks
from bench.recording import RecordingMonitor, requests_by_urn
from bench.tenants import write_tenants_file
from components.kubernetes import _TYPED, child_declarer
from tests.support import objects, run

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
# The Python module pulumi-kubernetes keeps an API group's classes in.
_GROUP_MODULES = {"": "core", "apps": "apps", "rbac.authorization.k8s.io": "rbac", "networking.k8s.io": "networking", "apiextensions.k8s.io": "apiextensions",
                  "admissionregistration.k8s.io": "admissionregistration"}


def _typed_class(api_version: str, kind: str):
    group, _, version = api_version.rpartition("/")
    return getattr(getattr(getattr(k8s, _GROUP_MODULES[group]), version), kind)


def _declare_typed(obj: dict, name: str, opts: pulumi.ResourceOptions) -> None:
    """What the program did before: the typed class for built-in kinds, CustomResource otherwise."""
    fields = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    if (obj["apiVersion"], obj["kind"]) in _TYPED:
        _typed_class(obj["apiVersion"], obj["kind"])(name, opts=opts, **{_CAMEL.sub("_", k).lower(): v for k, v in fields.items()})
    else:
        k8s.apiextensions.CustomResource(name, api_version=obj["apiVersion"], kind=obj["kind"], opts=opts, **fields)


def _requests(declare_all) -> dict[str, dict]:
    def program() -> None:
        provider = k8s.Provider("kubernetes", context="probe")
        parent = pulumi.ComponentResource("test:index:Probe", "probe")
        declare_all(parent, provider)

    return requests_by_urn(run_under_mocks(program, {}, RecordingMonitor))


# The options the components pass, spread over the objects.
_OPTIONS = ({}, {"protect": True}, {"retain_on_delete": True})


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory) -> list[dict]:
    """Every object a generated stack renders (admins, certificates, exports included), plus a
    bare object of each built-in kind the program does not emit today; named 0, 1, ... so that
    names are unique."""
    tenants = write_tenants_file(tmp_path_factory.mktemp("tenants") / "tenants.yaml", 10)
    objs = objects(run("classic", tenants.read_text(encoding="utf-8"), tmp_path_factory.mktemp("run")))
    emitted = {(o["apiVersion"], o["kind"]) for o in objs}
    objs += [
        {"apiVersion": api_version, "kind": kind, "metadata": {"namespace": "probe"}}
        for api_version, kind in _TYPED if (api_version, kind) not in emitted
    ]
    return [{**obj, "metadata": {**obj["metadata"], "name": str(i)}} for i, obj in enumerate(objs)]


def test_generic_registration_equals_the_typed_classes(every_kind):
    def typed(parent, provider):
        for i, obj in enumerate(every_kind):
            opts = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[], **_OPTIONS[i % 3])
            _declare_typed(obj, f"probe/{obj['metadata']['name']}", opts)

    def generic(parent, provider):
        add = child_declarer(parent, "probe", provider)
        for i, obj in enumerate(every_kind):
            add(obj, [], **_OPTIONS[i % 3])

    expected, actual = _requests(typed), _requests(generic)
    assert {(o["apiVersion"], o["kind"]) for o in every_kind} >= set(_TYPED)
    assert len(expected) == len(every_kind) + 3  # besides: the stack, the provider and the component
    assert actual == expected
