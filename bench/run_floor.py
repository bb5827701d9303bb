"""The floor: replay a recorded run through the SDK's generic resource classes, in a process of its own.

python -m bench.run_floor REPLAY [--record REQUESTS]

Same SDK modules imported, same mock engine, same registrations (types, names, parents,
provider, dependencies, inputs, options, aliases, outputs) and no program logic: what Pulumi
itself needs for these resources. Reading the recording is not timed, and the recording is
kept out of the garbage collector's sight: it stands for the program's own input and logic,
which the program's time does include.
"""

import gc
import json
import sys
import time
from pathlib import Path

RECORDING = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")) if len(sys.argv) > 1 else None
gc.freeze()
STARTED = time.perf_counter()
# The program runs with these collector thresholds (COLLECTOR_THRESHOLDS in components/kubernetes.py,
# not imported: it would import the program); so does its floor, so that the ratio measures the
# program's own work, not the interpreter's settings. tests/test_bench.py keeps the two equal.
COLLECTOR_THRESHOLDS = (700, 10, 1_000_000)
gc.set_threshold(*COLLECTOR_THRESHOLDS)

import pulumi  # noqa: E402
import pulumi_kubernetes  # noqa: E402,F401  (the program imports it; its import cost is Pulumi's)

from bench.mock_engine import report, run_under_mocks  # noqa: E402

_OPTION_NAMES = {
    "protect": "protect",
    "retainOnDelete": "retain_on_delete",
    "deleteBeforeReplace": "delete_before_replace",
    "version": "version",
    "pluginDownloadURL": "plugin_download_url",
}
_PROVIDER_PREFIX = "pulumi:providers:"


def _alias(spec: dict):
    if "urn" in spec:
        return spec["urn"]
    # Absent parts stay `...` (the SDK's "not given"), which is not the same as None.
    parent = None if spec.get("noParent") else spec.get("parentUrn", ...)
    return pulumi.Alias(
        name=spec.get("name", ...), type_=spec.get("type", ...), stack=spec.get("stack", ...),
        project=spec.get("project", ...), parent=parent,
    )


def replay(recording: dict) -> None:
    made: list[pulumi.Resource] = []
    for entry in recording["resources"]:
        parent, provider = entry["parent"], entry["provider"]
        opts = pulumi.ResourceOptions(
            parent=made[parent] if parent is not None else None,
            provider=made[provider] if provider is not None else None,
            depends_on=[made[i] for i in entry["dependsOn"]],
            aliases=[_alias(a) for a in entry["aliases"]] or None,
            **{_OPTION_NAMES[key]: value for key, value in entry["options"].items()},
        )
        kind, name, inputs = entry["type"], entry["name"], entry["inputs"]
        if kind.startswith(_PROVIDER_PREFIX):
            resource = pulumi.ProviderResource(kind[len(_PROVIDER_PREFIX):], name, inputs, opts)
        elif entry["custom"]:
            resource = pulumi.CustomResource(kind, name, inputs, opts)
        else:
            # Remote components (a Helm chart) are constructed by their provider, as in the program.
            resource = pulumi.ComponentResource(kind, name, inputs or None, opts, remote=entry.get("remote", False))
        if "outputs" in entry:
            resource.register_outputs(entry["outputs"])
        made.append(resource)
    for key, value in recording["stackOutputs"].items():
        pulumi.export(key, value)


def main(argv: list[str]) -> None:
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--record"):
        raise SystemExit("usage: python -m bench.run_floor REPLAY [--record REQUESTS]")
    if len(argv) == 1:
        report(STARTED, run_under_mocks(lambda: replay(RECORDING), {}))
        return
    from bench.recording import RecordingMonitor, write_requests

    monitor = run_under_mocks(lambda: replay(RECORDING), {}, RecordingMonitor)
    report(STARTED, monitor)
    write_requests(monitor, Path(argv[2]))


if __name__ == "__main__":
    main(sys.argv[1:])
