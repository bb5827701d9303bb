"""components.kubernetes.record_call_sites_only: the state keeps each resource's call site, not
every frame above it (a local backend rewrites the whole state after every step)."""

from __future__ import annotations

import pulumi
from google.protobuf.json_format import MessageToDict
from pulumi.runtime import resource as runtime

from bench.mock_engine import run_under_mocks
from bench.recording import RecordingMonitor
from components.kubernetes import child_declarer, record_call_sites_only

OBJECT = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": "probe"}}


class Probe(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Probe", name)
        provider = pulumi.ProviderResource("kubernetes", "kubernetes", {})
        child_declarer(self, name, provider)(OBJECT, [])


def _build() -> None:
    Probe("probe")  # the component's call site


def _traces() -> dict[str, list[dict]]:
    monitor = run_under_mocks(lambda: _build(), {}, RecordingMonitor)
    return {request.type: MessageToDict(request).get("stackTrace", {}).get("frames", []) for _, request in monitor.requests}


def test_only_the_call_site_is_kept(monkeypatch):
    # The SDK's own (a program run earlier in this process may have replaced it), restored after the test.
    monkeypatch.setattr(runtime, "_get_stack_trace", getattr(runtime._get_stack_trace, "sdk", runtime._get_stack_trace))
    full = _traces()
    record_call_sites_only()
    short = _traces()
    for kind in ("test:index:Probe", "kubernetes:core/v1:ConfigMap"):
        assert len(full[kind]) > 1, full[kind]
        # The same first frame: what Pulumi shows as the resource's source position.
        assert short[kind] == full[kind][:1]
    assert short["test:index:Probe"][0]["pc"]["uri"].endswith("tests/test_call_sites.py")
