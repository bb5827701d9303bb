"""Sharding a large installation (tenants/shards.py, deploy/): which shard holds a tenant, what the
platform and shard stacks register under the mock engine, and the moves `python -m deploy` plans;
and the provider settings a platform stack gets (its client rate limits, skipAwait)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from bench.tenants import tenants_document
from components.tenant_removal import TYPE as REMOVAL_TYPE
from deploy.plan import DIGEST_TAG, Layout, digest_in_state, digest_tags, digests_in_tags, layout, moves, places_known, tenant_of, tenants_in_state
from render.engine import PROJECT_ROOT, ProgramFailed, ProgramRun, read_stack_config, run_program_file, run_stack_config
from render.output import kubernetes_objects, plain, summary
from tenants.handoff import HANDOFF_ENV, handed_tenants, handoff_key, text_digest, write_handoff
from tenants.loader import parse_tenants
from tenants.model import KUBE_CLIENT_BURST, KUBE_CLIENT_QPS, StackSettings
from tenants.shards import assign, cluster_of, shard_count, shard_digest, shard_of, shard_stack
from tenants.stack import load_settings, project_values

KEY = "istio-multitenancy"
NAMES = [f"team-{i:04d}" for i in range(1000)]


# --- the assignment -----------------------------------------------------------------------------


def test_adding_or_removing_a_tenant_moves_no_other():
    before = {name: shard_of(name, 7) for name in NAMES}
    after = assign([*NAMES[:500], "newcomer", *NAMES[501:]], 7)
    assert {n: s for s, names in after.items() for n in names if n != "newcomer"} == {n: s for n, s in before.items() if n != NAMES[500]}


def test_one_shard_more_moves_only_tenants_to_the_new_shard():
    moved = {n: (shard_of(n, 9), shard_of(n, 10)) for n in NAMES if shard_of(n, 9) != shard_of(n, 10)}
    assert moved and {new for _, new in moved.values()} == {10}
    # About a tenth of them, as rendezvous hashing promises (mod-N hashing would move nine in ten).
    assert 60 <= len(moved) <= 140, len(moved)


def test_shards_are_balanced_and_the_order_of_the_file_does_not_matter():
    counts = [len(names) for names in assign(NAMES, 10).values()]
    assert min(counts) >= 70 and max(counts) <= 130, counts
    assert {s: sorted(n) for s, n in assign(reversed(NAMES), 10).items()} == {s: sorted(n) for s, n in assign(NAMES, 10).items()}


@pytest.mark.parametrize(
    "tenants, configured, expected",
    [(20, None, 1), (21, None, 3), (200, None, 20), (1000, None, 100), (1000, 4, 4), (10, 2, 2), (500, 1, 1)],
)
def test_the_shard_count(tenants, configured, expected):
    assert shard_count(StackSettings(tenants_file="t.yaml", tenant_shards=configured), tenants) == expected


def test_shard_stack_names_derive_from_the_cluster_stack():
    assert shard_stack("prod", 3) == "prod-shard-3"
    assert cluster_of("prod-shard-3") == ("prod", 3)
    assert cluster_of("prod") == ("prod", None)
    assert cluster_of("prod-shard-0") == ("prod-shard-0", None)


# --- what each stack registers ------------------------------------------------------------------

TENANTS = 8
SHARDS = 3


@pytest.fixture(scope="module")
def tenants_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("shards") / "tenants.yaml"
    path.write_text(yaml.safe_dump(tenants_document(TENANTS), sort_keys=False))
    return path


def _run(stack: str, tenants_file: Path, **extra: str) -> ProgramRun:
    config = read_stack_config("dev")
    config[f"{KEY}:tenantsFile"] = str(tenants_file)
    config.update({f"{KEY}:{k}": v for k, v in extra.items()})
    return run_program_file(PROJECT_ROOT / "__main__.py", stack, config)


def _as_stack(urn: str, stack: str) -> str:
    head, project, rest = urn.split("::", 2)
    return f"urn:pulumi:{stack}::{project}::{rest}" if head.startswith("urn:pulumi:") else urn


def _tenant_registrations(program: ProgramRun, stack: str = "dev") -> dict:
    return {_as_stack(r.urn, stack): r for r in program.registrations if tenant_of(r.urn)}


@pytest.fixture(scope="module")
def runs(tenants_file):
    single = _run("dev", tenants_file)
    platform = _run("dev", tenants_file, tenantShards=str(SHARDS))
    shards = {k: _run(shard_stack("dev", k), tenants_file, tenantShards=str(SHARDS), shard=str(k)) for k in range(1, SHARDS + 1)}
    return single, platform, shards


def test_the_shards_together_register_every_tenant_resource_as_the_single_stack_does(runs):
    single, _, shards = runs
    union = {}
    for k, program in shards.items():
        held = _tenant_registrations(program)
        assert {tenant_of(u) for u in held} == set(assign([f"team-{i:04d}" for i in range(TENANTS)], SHARDS)[k]) or held == {}
        union.update(held)
    expected = _tenant_registrations(single)
    assert sorted(union) == sorted(expected)
    for urn, registration in expected.items():
        got = union[urn]
        # The same objects with the same protections: retained namespaces and policies stay retained.
        assert plain(got.inputs) == plain(registration.inputs), urn
        assert (got.protect, got.retain_on_delete, got.type) == (registration.protect, registration.retain_on_delete, registration.type), urn


def test_a_shard_registers_only_its_tenants_and_their_provider(runs):
    _, _, shards = runs
    for program in shards.values():
        others = [r for r in program.registrations if not tenant_of(r.urn)]
        assert sorted(r.type for r in others) == ["pulumi:providers:kubernetes", "pulumi:pulumi:Stack"], [r.urn for r in others]


def test_the_platform_registers_everything_but_the_tenants_and_keeps_every_tenants_admission_parameters(runs):
    single, platform, _ = runs
    assert not _tenant_registrations(platform)
    expected = {r.urn: r for r in single.registrations if not tenant_of(r.urn)}
    got = {r.urn: r for r in platform.registrations}
    assert sorted(got) == sorted(expected)
    params = [o for o in kubernetes_objects(platform) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "istio-multitenancy-tenants"]
    single_params = [o for o in kubernetes_objects(single) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "istio-multitenancy-tenants"]
    assert params == single_params and len(params) == 1
    namespaces = {o["metadata"]["name"] for o in kubernetes_objects(single) if o["kind"] == "Namespace"}
    assert {key.split(".", 1)[0] for key in params[0]["data"]} == {n for n in namespaces if "team-" in n} and len(namespaces) > TENANTS


def _sorted_objects(program: ProgramRun) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True) for o in kubernetes_objects(program))


def test_a_render_of_the_cluster_stack_shows_the_whole_installation(runs, tenants_file):
    """What a reviewer renders offline (`python -m render STACK`, `render diff`): the platform and
    every shard's tenants, the objects of one stack holding them all; `--stack-only` the platform."""
    single, platform, _ = runs
    config = {**read_stack_config("dev"), f"{KEY}:tenantsFile": str(tenants_file), f"{KEY}:tenantShards": str(SHARDS)}
    whole = run_stack_config("dev", config)
    assert whole.whole_of == SHARDS
    assert _sorted_objects(whole) == _sorted_objects(single)
    assert f"a sharded installation: the platform and its {SHARDS} shard stacks' tenants" in summary(whole)
    own = run_stack_config("dev", config, own_stack_only=True)
    assert own.whole_of is None and _sorted_objects(own) == _sorted_objects(platform)
    # One stack, and a shard's stack, render as they run.
    assert run_stack_config("dev", {**config, f"{KEY}:tenantShards": "1"}).whole_of is None
    shard = run_stack_config(shard_stack("dev", 1), {**config, f"{KEY}:shard": "1"})
    assert shard.whole_of is None and not [r for r in shard.registrations if r.type == "istio-multitenancy:index:TenantAdmission"]


def test_every_stack_of_the_installation_uses_the_platform_client_settings(runs):
    single, platform, shards = runs
    for program in (single, platform, *shards.values()):
        (provider,) = [r for r in program.registrations if r.type == "pulumi:providers:kubernetes"]
        settings = plain(provider.inputs)["kubeClientSettings"]
        settings = yaml.safe_load(settings) if isinstance(settings, str) else settings
        assert (float(settings["qps"]), int(settings["burst"])) == (KUBE_CLIENT_QPS, KUBE_CLIENT_BURST)


def test_the_client_settings_come_from_the_stack(tenants_file):
    program = _run("dev", tenants_file, kubeClientQps="75", kubeClientBurst="150")
    (provider,) = [r for r in program.registrations if r.type == "pulumi:providers:kubernetes"]
    settings = plain(provider.inputs)["kubeClientSettings"]
    settings = yaml.safe_load(settings) if isinstance(settings, str) else settings
    assert (float(settings["qps"]), int(settings["burst"])) == (75, 150)


def test_a_bad_client_setting_is_refused_naming_the_key(tenants_file):
    with pytest.raises(ProgramFailed) as caught:
        _run("dev", tenants_file, kubeClientQps="fast")
    assert "istio-multitenancy:kubeClientQps" in str(caught.value) and "'fast'" in str(caught.value)


def test_a_sharded_cluster_stack_runs_only_under_python_m_deploy(tenants_file):
    """Its program registers the platform alone: a plain `pulumi up` would delete every tenant's
    objects from the stack (a file grown past the automatic line does it), so it is refused,
    naming the stack file, the setting and the command, and nothing is registered."""
    config = {**read_stack_config("dev"), f"{KEY}:tenantsFile": str(tenants_file), f"{KEY}:tenantShards": "3"}
    with pytest.raises(ProgramFailed) as failed:
        run_program_file(PROJECT_ROOT / "__main__.py", "dev", config, as_deploy=False)
    message = str(failed.value)
    assert message.startswith("Pulumi.dev.yaml: istio-multitenancy:tenantShards: this installation is sharded (3 shard stacks"), message
    assert "python -m deploy up|preview|destroy --stack dev" in message
    assert "to keep one stack, set tenantShards: 1" in message  # what an installation that crossed the line may prefer
    assert [r.type for r in failed.value.registrations] == ["pulumi:pulumi:Stack"]  # the stack alone: nothing of ours
    # One stack, or a shard's stack, runs as before; so does the cluster stack under `python -m deploy`.
    single = {**config, f"{KEY}:tenantShards": "1"}
    assert run_program_file(PROJECT_ROOT / "__main__.py", "dev", single, as_deploy=False).registrations
    shard = {**config, f"{KEY}:shard": "2"}
    assert run_program_file(PROJECT_ROOT / "__main__.py", shard_stack("dev", 2), shard, as_deploy=False).registrations
    assert run_program_file(PROJECT_ROOT / "__main__.py", "dev", config, as_deploy=True).registrations


def test_a_shard_beyond_the_count_is_refused(tenants_file):
    with pytest.raises(ProgramFailed) as caught:
        _run(shard_stack("dev", 5), tenants_file, tenantShards="3", shard="5")
    assert "shard 5 of an installation of 3 shard(s)" in str(caught.value)
    assert caught.value.registrations == [] or all(r.type == "pulumi:pulumi:Stack" for r in caught.value.registrations)


def test_a_shard_namespace_waits_for_nothing_of_the_platform(runs):
    """In one stack a namespace waits for the admission parameters; in a shard the platform's
    stack has already deployed them (python -m deploy runs it first)."""
    single, _, shards = runs
    namespaces = [r for p in shards.values() for r in p.registrations if r.type == "kubernetes:core/v1:Namespace"]
    # Only for its own tenant's TenantRemoval, in the shard's own stack (the adopt check comes first).
    by_urn = {r.urn: r for p in shards.values() for r in p.registrations}
    assert namespaces and all(
        [(by_urn[d].type, by_urn[d].parent) for d in r.dependencies] == [(REMOVAL_TYPE, r.parent)] for r in namespaces
    )
    single_ns = [r for r in single.registrations if r.type == "kubernetes:core/v1:Namespace" and tenant_of(r.urn)]
    assert all(any("TenantAdmission" in d for d in r.dependencies) for r in single_ns)


def test_only_objects_nothing_waits_for_skip_the_providers_await(runs):
    single, _, _ = runs
    skipping = [o for o in kubernetes_objects(single) if (o["metadata"].get("annotations") or {}).get("pulumi.com/skipAwait")]
    assert skipping and {o["kind"] for o in skipping} == {"ResourceQuota"}
    # istiod and the gateways are charts whose objects the provider waits for: no skipAwait there.
    charts = [r for r in single.registrations if r.type == "kubernetes:helm.sh/v4:Chart"]
    assert charts and not any(plain(r.inputs).get("skipAwait") for r in charts)
    # Nothing in the program depends on a quota.
    quotas = {r.urn for r in single.registrations if r.type == "kubernetes:core/v1:ResourceQuota"}
    assert not [r.urn for r in single.registrations if quotas & set(r.dependencies)]


# --- what python -m deploy plans ----------------------------------------------------------------


def _file(names: list[str], **renamed: str):
    doc = {"tenants": [{"name": n, "routes": [{"name": "web", "http": [{"to": {"service": "web", "port": 8080}}]}]} for n in names]}
    for new, old in renamed.items():
        tenant = next(t for t in doc["tenants"] if t["name"] == old)
        tenant.update(name=new, previousNames=[old], namespace=old)
    return parse_tenants(yaml.safe_dump(doc), "tenants.yaml")


def test_a_shard_more_moves_each_tenant_the_new_shard_wins_and_no_other():
    names = [f"team-{i:03d}" for i in range(60)]
    config = _file(names)
    before, after = layout("prod", config, 3), layout("prod", config, 4)
    held = {shard_stack("prod", k): list(t) for k, t in before.shards.items()}
    planned = moves(after, config, held)
    assert planned and {m.dest for m in planned} == {"prod-shard-4"}
    assert {m.tenant for m in planned} == set(after.shards[4])


def test_no_state_is_read_only_when_every_tenants_place_is_certain():
    """`python -m deploy` skips reading every shard's state (its own main cost at a thousand
    tenants) only when no move can be due: the shard count recorded by the last `up` that found or
    put every tenant in place is this one, and no renamed tenant's former name hashes elsewhere."""
    names = [f"team-{i:03d}" for i in range(30)]
    config = _file(names)
    three = layout("prod", config, 3)
    assert places_known(three, config, "3")
    assert not places_known(three, config, None)  # never recorded, or a run stopped between moves
    assert not places_known(three, config, "2")  # a shard more than before
    assert not places_known(layout("prod", config, 2), config, "3")  # a shard fewer
    one = layout("prod", config, 1)
    assert places_known(one, config, "1")
    assert not places_known(one, config, "3")  # back from shards to one stack
    # Renamed: certain only if the former name hashes to the same shard as the new one.
    elsewhere = next(n for n in names if shard_of(n, 3) != shard_of("renamed", 3))
    same = next(n for n in names if shard_of(n, 3) == shard_of("renamed", 3))
    for former, certain in ((elsewhere, False), (same, True)):
        renamed = _file(names, renamed=former)
        assert places_known(layout("prod", renamed, 3), renamed, "3") is certain
        # And what certainty skips is what a full read would find: no move.
        held = {shard_stack("prod", k): list(t) for k, t in three.shards.items()}
        assert bool(moves(layout("prod", renamed, 3), renamed, held)) is not certain


def test_from_one_stack_to_shards_every_tenant_leaves_the_cluster_stack_and_back():
    names = [f"team-{i:03d}" for i in range(20)]
    config = _file(names)
    sharded = layout("prod", config, 2)
    planned = moves(sharded, config, {"prod": names})
    assert sorted(m.tenant for m in planned) == names and {m.source for m in planned} == {"prod"}
    back = moves(layout("prod", config, 1), config, {shard_stack("prod", k): list(t) for k, t in sharded.shards.items()})
    assert sorted(m.tenant for m in back) == names and {m.dest for m in back} == {"prod"}


def test_a_renamed_tenant_moves_under_its_former_name_and_a_removed_one_goes_where_it_hashes():
    names = [f"team-{i:03d}" for i in range(30)]
    target = layout("prod", _file(names), 3)
    held = {shard_stack("prod", k): list(t) for k, t in target.shards.items()}
    assert moves(target, _file(names), held) == []
    # Renamed: found under its former name, moved (if its new name hashes elsewhere) under that name.
    old = next(n for n in names if shard_of(n, 3) != shard_of("shop", 3))
    renamed = _file(names, shop=old)
    (move,) = moves(layout("prod", renamed, 3), renamed, held)
    assert (move.tenant, move.name, move.source, move.dest) == ("shop", old, target.stack_of(old), shard_stack("prod", shard_of("shop", 3)))
    assert move.urn("istio-multitenancy") == f"urn:pulumi:{move.source}::istio-multitenancy::istio-multitenancy:index:TenantMesh::{old}"
    # Removed from the file while in a shard stack beyond the count: back where its name hashes, whose up deletes it.
    held[shard_stack("prod", 4)] = ["gone"]
    (gone,) = moves(target, _file(names), held)
    assert (gone.tenant, gone.dest) == ("gone", shard_stack("prod", shard_of("gone", 3)))


def test_tenants_in_state_and_tenant_of():
    urn = "urn:pulumi:prod-shard-1::istio-multitenancy::istio-multitenancy:index:TenantMesh"
    resources = [{"urn": f"{urn}::a", "type": "istio-multitenancy:index:TenantMesh"}, {"urn": f"{urn}$kubernetes:core/v1:Namespace::a/a", "type": "kubernetes:core/v1:Namespace"}]
    assert tenants_in_state(resources) == ["a"]
    assert [tenant_of(r["urn"]) for r in resources] == ["a", "a"]
    assert tenant_of("urn:pulumi:prod::istio-multitenancy::istio-multitenancy:index:TenantAdmission::admission") is None


# --- the digest that decides which shards to preview --------------------------------------------


def test_digest_in_state_is_the_stack_output_of_the_last_up():
    """`python -m deploy` reads a shard's digest from the state it exports anyway (one CLI run per
    shard, not three): the root Stack resource's `shardDigest` output."""
    stack = {"urn": "urn:pulumi:prod-shard-1::istio-multitenancy::pulumi:pulumi:Stack::istio-multitenancy-prod-shard-1",
             "type": "pulumi:pulumi:Stack"}
    tenant = {"urn": "urn:pulumi:prod-shard-1::istio-multitenancy::istio-multitenancy:index:TenantMesh::a",
              "type": "istio-multitenancy:index:TenantMesh", "outputs": {"shardDigest": "not this one"}}
    assert digest_in_state([tenant, {**stack, "outputs": {"shardDigest": "abc", "other": 1}}]) == "abc"
    # A stack created but never up (no outputs yet), or a state from before digests: preview it.
    assert digest_in_state([stack, tenant]) is None
    assert digest_in_state([{**stack, "outputs": {"other": 1}}]) is None
    assert digest_in_state([]) is None


def test_digests_in_tags_are_the_shard_stacks_own_and_only_those_recorded():
    """The cluster stack's tags record each shard's digest by shard number: read for the shard
    stacks given, a shard without a tag is absent (its output is read instead), other tags ignored."""
    tags = {DIGEST_TAG.format(shard=1): "d1", DIGEST_TAG.format(shard=12): "d12", "istio-multitenancy:shards": "12",
            "pulumi:project": "istio-multitenancy", DIGEST_TAG.format(shard="x"): "not a shard"}
    assert DIGEST_TAG.format(shard=12) == "istio-multitenancy:digest-12"
    assert digest_tags(tags) == {DIGEST_TAG.format(shard=1): 1, DIGEST_TAG.format(shard=12): 12}
    names = ["prod", "prod-shard-1", "prod-shard-2", "prod-shard-12"]
    assert digests_in_tags(tags, names) == {"prod-shard-1": "d1", "prod-shard-12": "d12"}
    assert digests_in_tags({}, names) == {}


def _settings(doc: dict, tmp_path: Path, shards: int):
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return _file_settings("dev", path, tenantShards=str(shards))


def test_a_changed_tenant_changes_its_shards_digest_only(tmp_path):
    doc = tenants_document(12)
    before = _settings(doc, tmp_path, 3)
    digests = {k: shard_digest(before, k, PROJECT_ROOT) for k in range(1, 4)}
    assert digests == {k: shard_digest(before, k, PROJECT_ROOT) for k in range(1, 4)}
    changed = copy.deepcopy(doc)
    # A tenant that neither exports nor imports: only its own shard sees it.
    tenant = next(t for t in changed["tenants"] if not t.get("exports") and not t.get("imports"))
    tenant["quota"] = {**tenant.get("quota", {}), "pods": 7}
    after = _settings(changed, tmp_path, 3)
    differ = {k for k in range(1, 4) if shard_digest(after, k, PROJECT_ROOT) != digests[k]}
    assert differ == {shard_of(tenant["name"], 3)}
    # A new tenant: its shard, and no other.
    added = copy.deepcopy(doc)
    added["tenants"].append({**copy.deepcopy(tenant), "name": "newcomer", "namespace": "newcomer"})
    added["tenants"][-1].pop("gateway", None)
    grown = _settings(added, tmp_path, 3)
    assert {k for k in range(1, 4) if shard_digest(grown, k, PROJECT_ROOT) != digests[k]} == {shard_of("newcomer", 3)}


# --- the validated tenants python -m deploy hands its programs (tenants/handoff.py) -------------


def _file_settings(stack: str, tenants_file: Path, **extra: str):
    config = read_stack_config("dev")
    config[f"{KEY}:tenantsFile"] = str(tenants_file)
    config.update({f"{KEY}:{k}": v for k, v in extra.items()})
    return load_settings(stack, project_values(config), PROJECT_ROOT)


def _key(settings) -> str:
    """The key `python -m deploy` hands its validated tenants under (deploy/__main__.py)."""
    return handoff_key(settings.stack, PROJECT_ROOT, settings.tenants_digest)


def test_the_cluster_stack_and_its_shards_validate_the_file_under_one_key(tenants_file, tmp_path):
    cluster = _file_settings("dev", tenants_file, tenantShards=str(SHARDS))
    shards = {_key(_file_settings(shard_stack("dev", k), tenants_file, tenantShards=str(SHARDS), shard=str(k))) for k in (1, 2)}
    assert shards == {_key(cluster)}
    # Another text, or another setting, is another key: the programs validate the file themselves.
    edited = tmp_path / "tenants.yaml"
    edited.write_text(tenants_file.read_text() + "\n# reviewed\n")
    assert _key(_file_settings("dev", edited, tenantShards=str(SHARDS))) not in {_key(cluster), ""}
    assert _key(_file_settings("dev", tenants_file, tenantShards=str(SHARDS), kubeClientQps="77")) != _key(cluster)


def test_the_key_covers_the_code_that_validated_the_file(tmp_path):
    """A program of another checkout (the code changed during the run) validates the file itself."""
    for entry in ("builders", "components", "tenants"):
        (tmp_path / entry).mkdir()
    (tmp_path / "__main__.py").write_text("")
    (tmp_path / "requirements.txt").write_text("pulumi\n")
    (tmp_path / "tenants" / "model.py").write_text("RULES = 1\n")
    settings = StackSettings(tenants_file="tenants.yaml")
    before = handoff_key(settings, tmp_path, text_digest("tenants: []\n"))
    assert handoff_key(settings, tmp_path, text_digest("tenants: []\n")) == before
    (tmp_path / "tenants" / "model.py").write_text("RULES = 2\n")
    assert handoff_key(settings, tmp_path, text_digest("tenants: []\n")) != before


def test_a_shard_program_takes_the_tenants_deploy_validated_under_its_key(tenants_file, tmp_path, monkeypatch):
    cluster = _file_settings("dev", tenants_file, tenantShards=str(SHARDS))
    shard = next(k for k, names in assign([t.name for t in cluster.tenants.tenants], SHARDS).items() if len(names) >= 2)
    held = assign([t.name for t in cluster.tenants.tenants], SHARDS)[shard]
    # Handed: the file without one of the shard's tenants, to see which the program registers.
    handed = cluster.tenants.model_copy(update={"tenants": [t for t in cluster.tenants.tenants if t.name != held[0]]})

    def registered(key: str) -> set[str]:
        monkeypatch.setenv(HANDOFF_ENV, write_handoff(tmp_path, key, handed)[HANDOFF_ENV])
        program = _run(shard_stack("dev", shard), tenants_file, tenantShards=str(SHARDS), shard=str(shard))
        return {tenant_of(r.urn) for r in program.registrations if tenant_of(r.urn)}

    assert registered(_key(cluster)) == set(held) - {held[0]}
    # Under another key (another text or settings than the program's), the program reads the file.
    assert registered("0" * 64) == set(held)
    monkeypatch.setenv(HANDOFF_ENV, str(tmp_path / "missing.pickle"))
    assert {tenant_of(r.urn) for r in _run(shard_stack("dev", shard), tenants_file, tenantShards=str(SHARDS), shard=str(shard)).registrations if tenant_of(r.urn)} == set(held)


def test_deploy_hands_its_programs_the_validated_tenants_for_its_run_only(monkeypatch):
    import deploy.__main__ as deploy_main

    seen = {}

    class Recorder:
        def __init__(self, root, settings, plan, *, env, **_):
            seen.update(env=env, key=_key(settings), settings=settings, tenants=settings.tenants)

        def preview(self, every):
            settings = seen["settings"]
            seen["handed"] = handed_tenants(settings.stack, PROJECT_ROOT, settings.tenants_digest, seen["env"])

    monkeypatch.setattr(deploy_main, "Deployment", Recorder)
    assert deploy_main.main(["preview", "--stack", "dev", "--cwd", str(PROJECT_ROOT)]) == 0
    assert seen["handed"] == seen["tenants"] and seen["key"]
    # The file lived as long as the command: nothing is left behind.
    assert not Path(seen["env"][HANDOFF_ENV]).exists()


def test_deploy_runs_the_clis_with_a_lazier_collector_unless_told_otherwise():
    from deploy.stacks import GO_RUNTIME, go_runtime

    assert go_runtime({}) == GO_RUNTIME == {"GOGC": "400", "GOMEMLIMIT": "2GiB"}
    # The caller's own Go settings win, one by one.
    assert go_runtime({"GOGC": "100", "PATH": "/bin"}) == {"GOMEMLIMIT": "2GiB"}
    assert go_runtime({"GOGC": "off", "GOMEMLIMIT": "8GiB"}) == {}


def test_deploy_runs_the_policy_pack_on_every_stacks_preview_and_up(monkeypatch, tmp_path):
    """A sharded installation keeps the CrossGuard check of one stack: `--policy-pack` goes to each
    stack's preview (the Automation API's policy_packs) and up (the CLI's own flag)."""
    import deploy.__main__ as deploy_main
    from deploy.stacks import up_arguments

    assert up_arguments("dev-shard-1", 32, ["/repo/policy"]) == [
        "up", "--yes", "--skip-preview", "--stack", "dev-shard-1", "--parallel", "32", "--policy-pack", "/repo/policy",
    ]
    assert "--policy-pack" not in up_arguments("dev", None, [])

    seen = {}

    class Recorder:
        def __init__(self, root, settings, plan, *, policy_packs=(), **_):
            seen["packs"] = policy_packs

        def preview(self, every):
            pass

    monkeypatch.setattr(deploy_main, "Deployment", Recorder)
    monkeypatch.chdir(tmp_path)
    assert deploy_main.main(["preview", "--stack", "dev", "--cwd", str(PROJECT_ROOT), "--policy-pack", "policy"]) == 0
    # Resolved where the command was given, as pulumi resolves its own flag.
    assert seen["packs"] == [str(tmp_path / "policy")]
