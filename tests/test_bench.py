"""The benchmark's harness is sound: its tenants files are valid and realistic, and its floor
registers exactly what the program registers. (Timings belong to `make bench`, not here.)"""

from __future__ import annotations

import json

import pytest

from bench.__main__ import PROJECT_ROOT, BenchError, record, tenant_resources
from bench.recording import request_differences
from bench.tenants import write_tenants_file
from tenants.loader import load_tenants


@pytest.mark.parametrize(
    "count, routes, revision",
    [(10, 2, 0), (100, 2, 0), (100, 2, 1), (10, 1, 0)],
)
def test_generated_tenants_files_validate(tmp_path, count, routes, revision):
    path = write_tenants_file(tmp_path / "tenants.yaml", count, routes, revision)
    config = load_tenants(path)
    assert len(config.tenants) == count
    assert {len(t.routes) for t in config.tenants} <= {routes, routes + revision}


def test_generated_tenants_are_a_realistic_mix(tmp_path):
    tenants = load_tenants(write_tenants_file(tmp_path / "tenants.yaml", 100)).tenants
    servers = [s for t in tenants for s in t.gateway.servers]
    https = [s for s in servers if s.protocol.value == "HTTPS"]
    assert {s.protocol.value for s in servers} == {"HTTP", "HTTPS"}
    assert all(s.tls.mode.value == "SIMPLE" and s.tls.credential_name for s in https)
    assert any(s.tls.issuer for s in https) and not all(s.tls.issuer for s in https)
    assert all(len(t.routes) == 2 for t in tenants)
    for feature in (lambda t: t.exports, lambda t: t.imports, lambda t: t.admins.users, lambda t: t.quota.pods != 50):
        assert 0 < sum(1 for t in tenants if feature(t)) < len(tenants)


def test_the_day2_revision_changes_some_tenants_only(tmp_path):
    before = load_tenants(write_tenants_file(tmp_path / "r0.yaml", 100)).tenants
    after = load_tenants(write_tenants_file(tmp_path / "r1.yaml", 100, revision=1)).tenants
    changed = [a.name for a, b in zip(before, after) if a != b]
    assert [t.name for t in before] == [t.name for t in after]
    assert 0 < len(changed) < len(before) // 10


def test_the_floor_replays_exactly_what_the_program_registers(tmp_path):
    tenants = write_tenants_file(tmp_path / "tenants.yaml", 10)
    replay = record(tenants, "run", tmp_path)
    program = json.loads((tmp_path / "run.program.json").read_text())
    floor = json.loads((tmp_path / "run.floor.json").read_text())
    assert request_differences(program, floor) == []
    assert set(program) == set(floor)
    # Every tenant's component and objects are in the recording the floor replayed.
    assert sorted(tenant_resources(replay)) == [f"team-{i:04d}" for i in range(10)]


def test_request_differences_name_what_differs():
    program = {"urn:a": {"type": "t", "dependencies": ["urn:b"]}, "urn:b": {"type": "t"}}
    floor = {"urn:a": {"type": "t", "dependencies": []}, "urn:c": {"type": "t"}}
    assert request_differences(program, floor) == [
        "only in the program: urn:b",
        "only in the floor: urn:c",
        "request differs in dependencies: urn:a",
    ]


def test_record_refuses_a_floor_that_differs(tmp_path, monkeypatch):
    tenants = write_tenants_file(tmp_path / "tenants.yaml", 1)
    import bench.__main__ as driver

    monkeypatch.setattr(driver, "request_differences", lambda program, floor: ["request differs in object: urn:x"])
    with pytest.raises(BenchError, match="does not replay the program"):
        record(tenants, "run", tmp_path)


def test_the_floor_runs_under_the_programs_collector_settings(dev_run):
    import ast
    import gc

    from components.kubernetes import COLLECTOR_THRESHOLDS

    source = (PROJECT_ROOT / "bench" / "run_floor.py").read_text(encoding="utf-8")
    (floor,) = [
        ast.literal_eval(node.value) for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COLLECTOR_THRESHOLDS" for t in node.targets)
    ]
    assert floor == COLLECTOR_THRESHOLDS
    assert gc.get_threshold() == COLLECTOR_THRESHOLDS  # the program set them when it ran
