"""Who reaches whom in a render, computed by IBM's network-config-analyzer (`nca`, np-guard).

The analyzer evaluates each layer's selectors and rules: Kubernetes NetworkPolicies, and Istio
AuthorizationPolicies. This module asks it for each layer's connectivity between the endpoints
(`verify.endpoints`) and combines the layers as the data path does:

- below the mesh, NetworkPolicy decides every connection (a pod's egress, then the peer's ingress);
- a port a sidecar intercepts also needs mTLS (STRICT: a caller without a sidecar, or the internet,
  is refused) and an AuthorizationPolicy admitting the caller; a gateway's server ports need the
  AuthorizationPolicy only (its clients have no mesh identity);
- the proxy's own ports (metrics, health) are guarded by NetworkPolicy alone.

Sidecar egress hosts are deliberately not counted as a barrier: the proof must not depend on
outbound traffic policy, and a pod without a sidecar has no Sidecar at all. So the computed map
over-approximates what really connects; equal to the declared map, it proves the declared map.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import yaml

from .endpoints import INTERNET, Endpoint, Port, pod_of

NETWORK_POLICY = "NetworkPolicy"
AUTHORIZATION_POLICY = "AuthorizationPolicy"
PEER_AUTHENTICATION = "PeerAuthentication"

_NCA_LOCK = threading.Lock()  # the analyzer keeps its state in module globals
Matrix = dict[tuple[str, str], frozenset[Port]]  # (source key, destination key) -> open ports; only open pairs


class AnalyzerError(Exception):
    """The analyzer failed or printed what this module cannot read."""


def analyzer_available() -> bool:
    return importlib.util.find_spec("nca") is not None


# --- The analyzer's text output ----------------------------------------------------------


@dataclass(frozen=True)
class Cube:
    """One allowed block: protocols (None: any) and destination port ranges (None: any)."""

    protocols: Optional[frozenset[str]]
    ports: Optional[tuple[tuple[int, int], ...]]

    def allows(self, port: Port) -> bool:
        protocol, number = port
        if self.protocols is not None and protocol not in self.protocols:
            return False
        return self.ports is None or any(low <= number <= high for low, high in self.ports)


ALL = (Cube(None, None),)
_LINE = re.compile(r"^(?P<src>\S+) => (?P<dst>\S+) : (?P<conns>.+)$")
_FIELD = re.compile(r"([a-z_]+):")


def _ranges(text: str) -> tuple[tuple[int, int], ...]:
    ranges = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        ranges.append((int(low), int(high or low)))
    return tuple(ranges)


def parse_connections(text: str) -> tuple[Cube, ...]:
    """`All connections`, or `{protocols:TCP, UDP,dst_ports:53}` blocks (other fields, such as
    HTTP methods or paths, are ignored: a path open for some requests is open)."""
    text = text.strip()
    if text == "All connections":
        return ALL
    cubes = []
    for body in re.findall(r"\{([^}]*)\}", text):
        parts = _FIELD.split(body)
        fields = {parts[i]: parts[i + 1].strip().rstrip(",") for i in range(1, len(parts) - 1, 2)}
        protocols = frozenset(p.strip() for p in fields["protocols"].split(",")) if "protocols" in fields else None
        ports = _ranges(fields["dst_ports"]) if "dst_ports" in fields else None
        cubes.append(Cube(protocols, ports))
    if not cubes:
        raise AnalyzerError(f"unreadable connections in the analyzer's output: {text!r}")
    return tuple(cubes)


def _peer(name: str) -> str:
    """`ns/pod[Pod]` -> `ns/pod`; an address range -> the internet."""
    return name.rsplit("[", 1)[0] if "[" in name else INTERNET


# With Istio policies the analyzer prints TCP and other protocols in sections of their own.
_SECTIONS = {"TCP Connections:": frozenset({"TCP"}), "non-TCP Connections:": frozenset({"UDP", "SCTP"})}


def _within(cube: Cube, protocols: Optional[frozenset[str]]) -> Cube:
    if protocols is None:
        return cube
    return Cube(protocols if cube.protocols is None else cube.protocols & protocols, cube.ports)


def parse_connectivity(output: str) -> dict[tuple[str, str], tuple[Cube, ...]]:
    """The analyzer's `txt_no_fw_rules` connectivity map, pair by pair (address ranges merged into the internet)."""
    pairs: dict[tuple[str, str], tuple[Cube, ...]] = {}
    section: Optional[frozenset[str]] = None
    for line in output.splitlines():
        line = line.strip()
        if line in _SECTIONS:
            section = _SECTIONS[line]
            continue
        match = _LINE.match(line)
        if not match:
            continue
        key = (_peer(match["src"]), _peer(match["dst"]))
        pairs[key] = pairs.get(key, ()) + tuple(_within(c, section) for c in parse_connections(match["conns"]))
    return pairs


# --- Running it ----------------------------------------------------------------------------


def _namespaces(objects: list[dict], endpoints: Iterable[Endpoint]) -> list[dict]:
    rendered = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "Namespace"}
    for endpoint in endpoints:
        rendered.setdefault(endpoint.namespace, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": endpoint.namespace}})
    return [rendered[name] for name in sorted(rendered)]


def _flush_into(logger, stream: io.StringIO, silent: bool) -> None:
    if not silent:
        for message, _ in logger._collected_messages:
            print(message, file=stream)
    logger._collected_messages.clear()


def _nca(argv: list[str]) -> tuple[int, str, str]:
    """Run the analyzer's command line in this process (its start-up costs ten times its query):
    it resets its own state at each run; its output is captured, and the PATH it extends restored."""
    from nca.nca_cli import nca_main
    from nca.Utils.NcaLogger import NcaLogger

    out, err, path = io.StringIO(), io.StringIO(), os.environ.get("PATH")
    with _NCA_LOCK, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        # The analyzer's logger keeps each warning with the stream it was to go to, some of them
        # bound when its modules were imported (a default argument): in a long-lived process that
        # stream may be closed by the time it prints. Its messages go to this run's capture instead.
        logger = NcaLogger()
        logger.flush_messages(silent=True)
        logger.flush_messages = lambda silent=False: _flush_into(logger, err, silent)
        try:
            code = nca_main(argv)
        except Exception as exc:  # noqa: BLE001 - reported with the analyzer's own words
            raise AnalyzerError(f"network-config-analyzer failed: {exc!r}; {err.getvalue().strip()[-2000:]}") from exc
        finally:
            if path is not None:
                os.environ["PATH"] = path
    return code, out.getvalue(), err.getvalue()


def run_analyzer(policies: list[dict], namespaces: list[dict], pods: list[dict]) -> str:
    """The analyzer's connectivity map (`txt_no_fw_rules`) of `policies` between `pods`."""
    with tempfile.TemporaryDirectory(prefix="nca-") as tmp:
        folder = Path(tmp)

        def write(name: str, docs: list[dict]) -> str:
            (folder / name).write_text(yaml.safe_dump_all(docs, sort_keys=True), encoding="utf-8")
            return str(folder / name)

        argv = [
            "--connectivity", write("policies.yaml", policies),
            "--ns_list", write("namespaces.yaml", namespaces), "--pod_list", write("pods.yaml", pods),
            "--output_format", "txt_no_fw_rules",
        ]
        code, out, err = _nca(argv)
    # The analyzer exits with the query's numerical result: only no map at all is a failure.
    if not out.strip():
        raise AnalyzerError(f"network-config-analyzer printed no connectivity map ({code}): {err.strip()[-2000:]}")
    return out


def layer(policies: list[dict], namespaces: list[dict], endpoints: list[Endpoint]) -> dict[tuple[str, str], tuple[Cube, ...]]:
    """One layer's connectivity between the endpoints; with no policy, everything connects."""
    if not policies:
        keys = [e.key for e in endpoints]
        return {(s, d): ALL for s in [INTERNET, *keys] for d in keys if s != d}
    return parse_connectivity(run_analyzer(policies, namespaces, [pod_of(e) for e in endpoints]))


def _allows(connectivity: dict[tuple[str, str], tuple[Cube, ...]], src: str, dst: str, port: Port) -> bool:
    return any(cube.allows(port) for cube in connectivity.get((src, dst), ()))


# --- mTLS ----------------------------------------------------------------------------------


def strict_namespaces(objects: list[dict], namespaces: Iterable[str], root_namespaces: Iterable[str]) -> set[str]:
    """Namespaces where every sidecar refuses plaintext: a namespace-wide STRICT PeerAuthentication,
    or none there (or UNSET) and a STRICT one in a mesh root. A workload-specific one that weakens
    (neither STRICT nor UNSET) makes the whole namespace count as not strict."""
    modes: dict[str, list[tuple[bool, str]]] = {}
    for obj in objects:
        if obj.get("kind") != PEER_AUTHENTICATION:
            continue
        spec = obj.get("spec") or {}
        mode = (spec.get("mtls") or {}).get("mode", "UNSET")
        modes.setdefault(obj["metadata"].get("namespace", ""), []).append((bool(spec.get("selector")), mode))
    root_strict = any(mode == "STRICT" for ns in root_namespaces for selected, mode in modes.get(ns, []) if not selected)
    strict = set()
    for namespace in namespaces:
        own = modes.get(namespace, [])
        # UNSET inherits from the level above; anything else that is not STRICT weakens.
        if any(selected and mode not in ("STRICT", "UNSET") for selected, mode in own):
            continue
        wide = [mode for selected, mode in own if not selected and mode != "UNSET"]
        if (wide and all(mode == "STRICT" for mode in wide)) or (not wide and root_strict):
            strict.add(namespace)
    return strict


# --- The combined map ----------------------------------------------------------------------


@dataclass(frozen=True)
class Layers:
    network: dict[tuple[str, str], tuple[Cube, ...]]
    authorization: dict[tuple[str, str], tuple[Cube, ...]]
    strict: frozenset[str]


def compute_layers(objects: list[dict], endpoints: list[Endpoint], root_namespaces: Iterable[str]) -> Layers:
    namespaces = _namespaces(objects, endpoints)
    network = [o for o in objects if o.get("kind") == NETWORK_POLICY]
    # A CUSTOM policy (an external authorizer, such as the add-ons' login) can only refuse more,
    # never admit: leaving it out keeps the map an over-approximation (the analyzer rejects the action).
    authorization = [o for o in objects if o.get("kind") == AUTHORIZATION_POLICY and o.get("spec", {}).get("action") != "CUSTOM"]
    return Layers(
        layer(network, namespaces, endpoints),
        layer(authorization, namespaces, endpoints),
        frozenset(strict_namespaces(objects, {e.namespace for e in endpoints}, root_namespaces)),
    )


def open_ports(layers: Layers, src: Optional[Endpoint], dst: Endpoint) -> frozenset[Port]:
    """The ports of `dst` that `src` (None: the internet) connects to."""
    source = src.key if src else INTERNET
    universe = dst.exposed if src is None else dst.ports
    plaintext = src is None or not src.mesh_identity
    ports = set()
    for port in universe:
        if not _allows(layers.network, source, dst.key, port):
            continue
        if port in dst.captured:
            if plaintext and dst.namespace in layers.strict:
                continue
            if not _allows(layers.authorization, source, dst.key, port):
                continue
        elif dst.authorizes and port in dst.entry_ports and not _allows(layers.authorization, source, dst.key, port):
            continue
        ports.add(port)
    return frozenset(ports)


def matrix(layers: Layers, endpoints: list[Endpoint]) -> Matrix:
    result: Matrix = {}
    for src in [None, *endpoints]:
        for dst in endpoints:
            if src is dst:
                continue
            ports = open_ports(layers, src, dst)
            if ports:
                result[(src.key if src else INTERNET, dst.key)] = ports
    return result


def compute(objects: list[dict], endpoints: list[Endpoint], root_namespaces: Iterable[str]) -> Matrix:
    """Who reaches whom, on which ports, with the render's policies."""
    return matrix(compute_layers(objects, endpoints, root_namespaces), endpoints)
