"""A render's reachability against its tenants file: computed (the analyzer) versus declared,
with each difference named as a path and, where the analyzer shows it, the policy behind it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import yaml

from tenants.model import InstallMethod, TenantsFile

from .analyzer import AUTHORIZATION_POLICY, NETWORK_POLICY, PEER_AUTHENTICATION, Matrix, compute
from .declared import compared, declared
from .endpoints import INTERNET, Endpoint, Port, control_plane_namespaces, stack_endpoints

# A cause is looked for (by taking each policy out in turn) for this many differences at most:
# each look costs two analyzer runs per policy taken out.
EXPLAINED = 50


def read_manifests(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if isinstance(doc, dict) and doc.get("kind")]


def show_ports(ports: Iterable[Port]) -> str:
    return ",".join(f"{number}" if proto == "TCP" else f"{number}/{proto.lower()}" for proto, number in sorted(ports, key=lambda p: (p[1], p[0])))


@dataclass(frozen=True)
class Difference:
    src: str
    dst: str
    ports: frozenset[Port]
    opened: bool  # True: open but not declared; False: declared but closed
    cause: Optional[str] = None

    def __str__(self) -> str:
        path = f"{self.src} -> {self.dst}:{show_ports(self.ports)}"
        if self.opened:
            return f"{path} {self.cause or 'open'}, not declared"
        return f"{path} declared, {self.cause or 'closed'}"


@dataclass(frozen=True)
class Check:
    endpoints: list[Endpoint]
    computed: Matrix
    declared: Matrix
    differences: list[Difference]
    pairs: int  # source-destination pairs compared

    @property
    def ok(self) -> bool:
        return not self.differences


def differences(computed: Matrix, wanted: Matrix, endpoints: list[Endpoint]) -> list[Difference]:
    by_key = {e.key: e for e in endpoints}
    found = []
    for src in [INTERNET, *by_key]:
        for dst in endpoints:
            if src == dst.key or not compared(src, dst, by_key):
                continue
            have, want = computed.get((src, dst.key), frozenset()), wanted.get((src, dst.key), frozenset())
            if have - want:
                found.append(Difference(src, dst.key, have - want, True))
            if want - have:
                found.append(Difference(src, dst.key, want - have, False))
    return found


def pair_count(endpoints: list[Endpoint]) -> int:
    by_key = {e.key: e for e in endpoints}
    return sum(1 for src in [INTERNET, *by_key] for dst in endpoints if src != dst.key and compared(src, dst, by_key))


_KIND_WORDS = {NETWORK_POLICY: "NetworkPolicy", AUTHORIZATION_POLICY: "AuthorizationPolicy", PEER_AUTHENTICATION: "PeerAuthentication"}


def _namespace_of(key: str) -> Optional[str]:
    return None if key == INTERNET else key.split("/", 1)[0]


def emptied(obj: dict) -> Optional[dict]:
    """The policy still selecting what it selects but admitting nothing (None: it admits nothing anyway)."""
    spec = dict(obj.get("spec") or {})
    if obj["kind"] == NETWORK_POLICY:
        types = spec.get("policyTypes") or (["Ingress", "Egress"] if "egress" in spec else ["Ingress"])
        spec.update({direction.lower(): [] for direction in types})
    elif obj["kind"] == AUTHORIZATION_POLICY and spec.get("action", "ALLOW") == "ALLOW":
        spec["rules"] = []
    else:
        return None
    return {**obj, "spec": spec}


def explain(objects: list[dict], endpoints: list[Endpoint], roots: list[str], found: list[Difference]) -> list[Difference]:
    """Name the policy behind each of the first differences: an open path is allowed by the policy
    whose rules, emptied (it still selects its pods), close it; a closed path is refused by the
    policy whose removal opens it."""
    wanted = found[:EXPLAINED]
    namespaces = {ns for d in wanted for ns in (_namespace_of(d.src), _namespace_of(d.dst)) if ns}
    candidates = [
        i for i, o in enumerate(objects)
        if o["kind"] in _KIND_WORDS and o["metadata"].get("namespace") in namespaces
    ]
    causes: dict[int, list[str]] = {}
    for index in candidates:
        obj = objects[index]
        name = f"{_KIND_WORDS[obj['kind']]} {obj['metadata']['namespace']}/{obj['metadata']['name']}"
        variants = {False: objects[:index] + objects[index + 1:]}
        if any(d.opened for d in wanted) and (empty := emptied(obj)) is not None:
            variants[True] = objects[:index] + [empty] + objects[index + 1:]
        for opened, variant in variants.items():
            changed = compute(variant, endpoints, roots)
            for n, d in enumerate(wanted):
                ports = changed.get((d.src, d.dst), frozenset())
                if d.opened == opened and ((opened and not d.ports & ports) or (not opened and d.ports <= ports)):
                    causes.setdefault(n, []).append(name)
    result = []
    for n, d in enumerate(found):
        names = causes.get(n)
        if d.opened:
            cause = f"allowed by {' and '.join(names)}" if names else ("allowed: no policy closes it" if n < EXPLAINED else None)
        else:
            cause = f"refused by {' and '.join(names)}" if names else None
        result.append(Difference(d.src, d.dst, d.ports, d.opened, cause))
    return result


def check(objects: list[dict], config: TenantsFile, install_method: InstallMethod = InstallMethod.HELM) -> Check:
    """Compute the render's reachability and compare it with the tenants file's."""
    endpoints = stack_endpoints(config, install_method)
    roots = control_plane_namespaces(config)
    computed = compute(objects, endpoints, roots)
    wanted = declared(config, endpoints)
    found = differences(computed, wanted, endpoints)
    if found:
        found = explain(objects, endpoints, roots, found)
    return Check(endpoints, computed, wanted, found, pair_count(endpoints))
