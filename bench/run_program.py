"""One run of the program under the mock engine, in a process of its own; prints one JSON line.

python -m bench.run_program METHOD TENANTS_FILE [--record REPLAY REQUESTS]

METHOD is the stack's install method: helm (Istio 1.30.3 from its charts) or operator (Istio 1.23.6).

The clock starts before anything is imported: the program's imports (pydantic, the SDK,
pulumi-kubernetes) are part of its cost, as they are of `pulumi preview`.
"""

import time

STARTED = time.perf_counter()

import os  # noqa: E402
import runpy  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.mock_engine import report, run_under_mocks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Each install method at the Istio release its stacks use.
VERSIONS = {"helm": "1.30.3", "operator": "1.23.6"}
USAGE = "usage: python -m bench.run_program helm|operator TENANTS_FILE [--record REPLAY REQUESTS]"


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 5) or argv[0] not in VERSIONS or (len(argv) == 5 and argv[2] != "--record"):
        raise SystemExit(USAGE)
    method, tenants_file = argv[0], str(Path(argv[1]).resolve())
    record = argv[3:] if len(argv) == 5 else None
    config = {
        "istio-multitenancy:tenantsFile": tenants_file,
        "istio-multitenancy:installMethod": method,
        "istio-multitenancy:istioVersion": VERSIONS[method],
        "istio-multitenancy:kubeContext": "kind-bench",
        # One stack, whatever the size: past 20 tenants the program shards by itself, and the
        # cluster's own stack (the one run here) would hold no tenant.
        "istio-multitenancy:tenantShards": "1",
    }
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)  # as `pulumi up` runs the program from the project directory

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    if record is None:
        monitor = run_under_mocks(program, config)
        report(STARTED, monitor)
        return
    from bench.recording import RecordingMonitor, write_recording

    monitor = run_under_mocks(program, config, RecordingMonitor)
    report(STARTED, monitor)
    write_recording(monitor, Path(record[0]), Path(record[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
