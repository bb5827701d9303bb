"""What a run told the engine, kept so the floor can replay it and be checked against it.

A recording is JSON: the resources in an order where every parent, provider and dependency comes
first (each pointing at the others by position), their inputs and options as the engine received
them, the components' registered outputs and the stack's exports.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from pulumi.runtime import mocks, rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import get_root_resource

STACK_TYPE = "pulumi:pulumi:Stack"
# Fields of a RegisterResource request the replay sets through ResourceOptions; any other
# field set by the program would make the replay differ, which `request_differences` reports.
_OPTIONS = ("protect", "retainOnDelete", "deleteBeforeReplace", "version", "pluginDownloadURL")
# Where the caller stood, not what it asked for.
_CALL_SITE_FIELDS = ("sourcePosition", "stackTrace")


class RecordingMonitor(mocks.MockMonitor):
    """The stock MockMonitor that also keeps every request, as it arrived."""

    def __init__(self, mock: mocks.Mocks):
        super().__init__(mock)
        self.requests: list[tuple[str, resource_pb2.RegisterResourceRequest]] = []
        self.outputs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        with self._lock:
            self.requests.append((response.urn, request))
        return response

    def RegisterResourceOutputs(self, request):
        with self._lock:
            self.outputs[request.urn] = request.outputs
        return super().RegisterResourceOutputs(request)


def requests_by_urn(monitor: RecordingMonitor) -> dict[str, dict]:
    """URN -> the request as JSON-able data, without its call site (for comparing two runs)."""
    out = {}
    for urn, request in monitor.requests:
        data = MessageToDict(request)
        for name in _CALL_SITE_FIELDS:
            data.pop(name, None)
        # The SDK sends dependencies from a set: their order is arbitrary, run to run.
        if "dependencies" in data:
            data["dependencies"] = sorted(data["dependencies"])
        for key, urns in data.get("propertyDependencies", {}).items():
            urns["urns"] = sorted(urns.get("urns", []))
        out[urn] = data
    return out


def request_differences(program: dict[str, dict], floor: dict[str, dict]) -> list[str]:
    """Every URN whose request differs between two runs ([] when the replay is exact)."""
    problems = [f"only in the program: {urn}" for urn in sorted(program.keys() - floor.keys())]
    problems += [f"only in the floor: {urn}" for urn in sorted(floor.keys() - program.keys())]
    for urn in sorted(program.keys() & floor.keys()):
        if program[urn] != floor[urn]:
            fields = sorted(k for k in program[urn].keys() | floor[urn].keys() if program[urn].get(k) != floor[urn].get(k))
            problems.append(f"request differs in {', '.join(fields)}: {urn}")
    return problems


def _alias(spec: dict) -> dict:
    if "urn" in spec:
        return {"urn": spec["urn"]}
    spec = spec["spec"]
    alias = {key: spec[key] for key in ("name", "type", "stack", "project", "parentUrn") if spec.get(key)}
    if spec.get("noParent"):
        alias["noParent"] = True
    return alias


def _plain_struct(struct) -> dict:
    return rpc.deserialize_properties(struct) if struct is not None else {}


def recording(monitor: RecordingMonitor) -> dict:
    """The replayable form of a recorded run."""
    by_urn = {urn: request for urn, request in monitor.requests}
    stack_urn = next(urn for urn, request in monitor.requests if request.type == STACK_TYPE)
    order: list[str] = []
    placed: set[str] = {stack_urn}

    def place(urn: str) -> None:
        # Depth-first, so whatever a resource refers to is created before it.
        if urn in placed:
            return
        placed.add(urn)
        request = by_urn[urn]
        for needed in (request.parent, request.provider.rsplit("::", 1)[0] if request.provider else "", *request.dependencies):
            if needed:
                place(needed)
        order.append(urn)

    for urn, _ in monitor.requests:
        place(urn)
    position = {urn: i for i, urn in enumerate(order)}
    resources = []
    for urn in order:
        request = by_urn[urn]
        entry: dict[str, Any] = {
            "type": request.type,
            "name": request.name,
            "custom": request.custom,
            "remote": request.remote,
            "parent": position.get(request.parent),
            "provider": position[request.provider.rsplit("::", 1)[0]] if request.provider else None,
            "dependsOn": [position[d] for d in request.dependencies],
            "inputs": _plain_struct(request.object),
            "options": {key: getattr(request, key) for key in _OPTIONS if getattr(request, key)},
            "aliases": [_alias(MessageToDict(a)) for a in request.aliases],
        }
        if urn in monitor.outputs:
            entry["outputs"] = _plain_struct(monitor.outputs[urn])
        resources.append(entry)
    stack = get_root_resource()
    return {"resources": resources, "stackOutputs": dict(getattr(stack, "outputs", {}) or {})}


def write_recording(monitor: RecordingMonitor, replay: Path, requests: Path) -> None:
    """`replay`: what the floor registers; `requests`: what the engine received, to check the floor by."""
    replay.write_text(json.dumps(recording(monitor)), encoding="utf-8")
    write_requests(monitor, requests)


def write_requests(monitor: RecordingMonitor, path: Path) -> None:
    path.write_text(json.dumps(requests_by_urn(monitor), sort_keys=True), encoding="utf-8")
