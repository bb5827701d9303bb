"""`python -m bench.render_diff [TENANTS]`: how long `python -m render diff` takes on two big renders.

Renders a generated tenants file (1,000 tenants by default: HTTP and HTTPS servers, two routes,
every tenth exporting a service to the next) and the same file with one tenant's hosts changed,
then times the diff as CI runs it: a fresh process, best of three. The files go to
build/bench/diff; nothing is committed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORK = PROJECT_ROOT / "build" / "bench" / "diff"
RUNS = 3
TARGET_SECONDS = 5.0


def tenants_file(count: int, changed: int, path: Path) -> Path:
    def tenant(i: int) -> dict:
        name = f"team-{i:04d}"
        domain = "changed.example.com" if i == changed else "apps.example.com"
        hosts = [f"{name}.{domain}"]
        entry: dict = {
            "name": name,
            "gateway": {"servers": [
                {"port": 80, "protocol": "HTTP", "hosts": hosts},
                {"port": 443, "protocol": "HTTPS", "hosts": hosts, "tls": {"mode": "SIMPLE", "credentialName": f"{name}-tls"}},
            ]},
            "routes": [
                {"name": "web", "http": [{"match": [{"prefix": "/static"}], "to": {"service": "static", "port": 8080}},
                                         {"to": {"service": "web", "port": 8080}}]},
                {"name": "api", "http": [{"match": [{"prefix": "/api"}], "to": {"service": "api", "port": 9090}}]},
            ],
        }
        if i % 10 == 0 and i + 1 < count:
            entry["exports"] = [{"service": "api", "to": [f"team-{i + 1:04d}"]}]
        if i % 10 == 1:
            entry["imports"] = [{"tenant": f"team-{i - 1:04d}", "service": "api"}]
        return entry

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"tenants": [tenant(i) for i in range(count)]}, sort_keys=False), encoding="utf-8")
    return path


def _render(tenants: Path, out: Path) -> None:
    command = [sys.executable, "-m", "render", "dev", "--tenants", str(tenants), "--out", str(out)]
    subprocess.run(command, cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render_diff")
    parser.add_argument("tenants", nargs="?", type=int, default=1000)
    count = parser.parse_args(argv).tenants

    _render(tenants_file(count, -1, WORK / "tenants-base.yaml"), WORK / "base")
    _render(tenants_file(count, count // 2, WORK / "tenants-changed.yaml"), WORK / "changed")

    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "render", "diff", str(WORK / "base"), str(WORK / "changed")],
            cwd=PROJECT_ROOT, capture_output=True, text=True,
        )
        timings.append(time.perf_counter() - start)
        if result.returncode != 1:
            print(result.stdout + result.stderr, file=sys.stderr)
            return 1
    sizes = {name: sum(f.stat().st_size for f in (WORK / name).iterdir()) / 2**20 for name in ("base", "changed")}
    summary = result.stdout.splitlines()[1]
    print(f"render diff, {count} tenants ({sizes['base']:.1f} MiB + {sizes['changed']:.1f} MiB of render): {summary}")
    print(f"  best {min(timings):.2f} s, worst {max(timings):.2f} s over {RUNS} runs (target < {TARGET_SECONDS:.0f} s)")
    return 0 if min(timings) < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
