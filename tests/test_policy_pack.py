"""The pack as Pulumi runs it: `policy/__main__.py` under the real pulumi-policy SDK, in the pack's
own virtualenv, served over the analyzer gRPC protocol the Pulumi CLI speaks (no CLI here: the
test plays the engine's part, on the loopback interface)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Optional

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from rules.invariants import PROJECT_ROOT
from rules.table import INVARIANTS, looks_at
from render.output import plain
from tests.support import run

PACK = PROJECT_ROOT / "policy"
PACK_PYTHON = PACK / ".venv" / "bin" / "python"


def _pack_python() -> Path:
    """policy/.venv, as `make test` builds it (and as Pulumi would, from policy/requirements.txt)."""
    subprocess.run(["make", "--silent", "policy/.venv/.installed"], cwd=PROJECT_ROOT, check=True)
    return PACK_PYTHON


class Analyzer:
    """One policy-pack process and a client for it."""

    def __init__(self, config: Optional[dict[str, str]]):
        """`config`: the stack's config in the environment, as older engines passed it; None for
        none, as the Pulumi CLI 3.274 runs a pack (the stack comes over ConfigureStack only)."""
        env = {**os.environ, "PULUMI_CONFIG": json.dumps(config), "PULUMI_STACK": "dev"}
        if config is None:
            env = {k: v for k, v in os.environ.items() if k not in ("PULUMI_CONFIG", "PULUMI_STACK")}
        env.pop("PYTHONPATH", None)
        # How pulumi-analyzer-policy-python starts a pack: `python -m pulumi.policy ENGINE PACK_DIR`.
        self.process = subprocess.Popen(
            [str(_pack_python()), "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(PACK)],
            cwd=PACK, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        port: list[str] = []
        reader = threading.Thread(target=lambda: port.append(self.process.stdout.readline().strip()), daemon=True)
        reader.start()
        reader.join(timeout=60)
        if not port or not port[0].isdigit():
            self.close()
            raise AssertionError(f"the policy pack did not start: {self.process.stderr.read()[-3000:]}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port[0]}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        if hasattr(self, "channel"):
            self.channel.close()

    def analyze(self, urn: str, resource_type: str, props: dict) -> list:
        request = analyzer_pb2.AnalyzeRequest(type=resource_type, urn=urn, name=urn.rsplit("::", 1)[-1], properties=_struct(props))
        return list(self.stub.Analyze(request).diagnostics)

    def analyze_stack(self, resources: list[tuple[str, str, dict]]) -> list:
        request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(type=t, urn=u, name=u.rsplit("::", 1)[-1], properties=_struct(p))
                for u, t, p in resources
            ]
        )
        return list(self.stub.AnalyzeStack(request).diagnostics)

    def configure_stack(self, stack: str, config: dict[str, str]) -> None:
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(stack=stack, project="istio-multitenancy", config=config))

    def configure(self, policy: str, **properties: str) -> None:
        config = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY, properties=_struct(properties))
        self.stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={policy: config}))


def _struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


@pytest.fixture(scope="module")
def pack():
    analyzer = Analyzer({"istio-multitenancy:tenantsFile": "tenants/dev.yaml"})
    yield analyzer
    analyzer.close()


@pytest.fixture(scope="module")
def dev_resources() -> list[tuple[str, str, dict]]:
    return [(r.urn, r.type, plain(r.inputs)) for r in run("dev").registrations]


def broken_load_balancer() -> tuple[str, str, dict]:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "workspace-1"}, "spec": {"type": "LoadBalancer"}}
    return "urn:pulumi:dev::p::kubernetes:core/v1:Service::db", "kubernetes:core/v1:Service", body


def test_the_pack_declares_every_invariant_as_mandatory(pack):
    info = pack.stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "istio-multitenancy"
    assert [p.name for p in info.policies] == [i.name for i in INVARIANTS]
    assert {p.enforcementLevel for p in info.policies} == {analyzer_pb2.MANDATORY}


def test_the_dev_stack_passes_the_pack(pack, dev_resources):
    for urn, resource_type, props in dev_resources:
        assert pack.analyze(urn, resource_type, props) == [], urn
    assert pack.analyze_stack(dev_resources) == []


def test_a_violation_reaches_the_engine_with_its_message(pack):
    (diagnostic,) = pack.analyze(*broken_load_balancer())
    assert diagnostic.policyName == "load-balancer-only-for-gateway"
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
    assert "Service workspace-1/db is a LoadBalancer" in diagnostic.message


def test_a_stack_without_mesh_wide_mtls_fails(pack, dev_resources):
    without = [r for r in dev_resources if not r[0].endswith("PeerAuthentication::platform-istiocontrolplane/default")]
    assert len(without) == len(dev_resources) - 1
    (diagnostic,) = pack.analyze_stack(without)
    assert diagnostic.policyName == "strict-mtls-present"
    assert "no mesh-wide STRICT mTLS" in diagnostic.message


def test_policy_config_makes_a_program_tenant_scoped():
    analyzer = Analyzer({"istio-multitenancy:tenantsFile": "tenants/dev.yaml"})
    try:
        analyzer.configure("tenant-program-namespaced-only", tenant="workspace-1")
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"}, "rules": []}
        (diagnostic,) = analyzer.analyze("urn:pulumi:dev::p::kubernetes:rbac.authorization.k8s.io/v1:ClusterRole::reader",
                                         "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", role)
        assert diagnostic.policyName == "tenant-program-namespaced-only"
        assert "ClusterRole reader is cluster-scoped" in diagnostic.message
    finally:
        analyzer.close()


def test_without_its_tenants_file_the_pack_fails_closed():
    analyzer = Analyzer({"istio-multitenancy:tenantsFile": "tenants/missing.yaml"})
    try:
        # Every policy that looks at a Service fails, none passes it.
        diagnostics = analyzer.analyze(*broken_load_balancer())
        assert len(diagnostics) == sum(1 for i in INVARIANTS if looks_at(i, "Service")) > 1
        for diagnostic in diagnostics:
            assert "cannot check the platform's invariants without the tenants file" in diagnostic.message
            assert "tenants/missing.yaml: no such tenants file" in diagnostic.message
    finally:
        analyzer.close()



def test_the_pack_takes_the_stack_and_its_tenants_file_from_the_engine():
    analyzer = Analyzer(None)
    try:
        analyzer.configure_stack("dev", {"istio-multitenancy:tenantsFile": "tenants/missing.yaml"})
        diagnostics = analyzer.analyze(*broken_load_balancer())
        assert diagnostics and all("tenants/missing.yaml: no such tenants file" in d.message for d in diagnostics)
    finally:
        analyzer.close()


def test_without_a_tenants_file_setting_the_pack_checks_against_the_stacks_default():
    analyzer = Analyzer(None)
    try:
        analyzer.configure_stack("dev", {})
        (diagnostic,) = [d for d in analyzer.analyze(*broken_load_balancer()) if "cannot check" not in d.message] or [None]
        assert diagnostic is not None and "LoadBalancer" in diagnostic.message, diagnostic
        assert not [d for d in analyzer.analyze(*broken_load_balancer()) if "cannot check" in d.message]
    finally:
        analyzer.close()
