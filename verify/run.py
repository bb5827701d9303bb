"""`make verify`: prove each stack's tenancy with Istio's own config compiler (verify/istio, issue 18).

    python -m verify.run [CASE...]     every case by default: the four stacks and verify's two
    python -m verify.run --build-only  only build (or find in the cache) the test binary

The Go test binary (`go test -c` of verify/istio) is cached by a hash of its go.mod, go.sum,
sources and the Go version under ${XDG_CACHE_HOME:-~/.cache}/istio-multitenancy/verify/, as
e2e/tools/build caches the tools, and linked to build/verify/bin/istio-verify.test. Each case's
input is made by `python -m verify.istio_input` (charts expanded by helm: HELM_BIN, else
build/e2e/bin/helm, else helm on PATH); the binary prints one summary line per case.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "verify" / "istio"
BUILD = ROOT / "build" / "verify"
BINARY = BUILD / "bin" / "istio-verify.test"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "istio-multitenancy" / "verify"
# The same flags as e2e/tools/build, so the packages istioctl compiled are reused from Go's cache.
GO_ENV = {"CGO_ENABLED": "0", "GOWORK": "off", "GOFLAGS": "-mod=readonly"}
GO_BUILD = ["go", "test", "-c", "-p", "2", "-trimpath"]
RECIPE_REVISION = "1"

# Case -> (stack, tenants file or None). verify's own files fill what the stacks' files lack:
# `protocols` (dev stack) the other kinds of route (HTTPS, TLS passthrough, TCP, HTTP2) and an
# export with its import; `meshes-services` (meshes stack, whose file names no service) routes,
# exports and imports inside each of two meshes.
CASES = {
    "dev": ("dev", None),
    "prod": ("prod", None),
    "classic": ("classic", None),
    "meshes": ("meshes", None),
    "protocols": ("dev", "verify/tenants/protocols.yaml"),
    "meshes-services": ("meshes", "verify/tenants/meshes.yaml"),
}


def go_version() -> str:
    if shutil.which("go") is None:
        raise RuntimeError("needs Go (`go` on PATH) to build the proof's test binary")
    done = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, env={**os.environ, **GO_ENV})
    if done.returncode:
        raise RuntimeError(f"go env GOVERSION: {done.stderr.strip()}")
    return done.stdout.strip()


def recipe_hash() -> str:
    digest = hashlib.sha256()
    digest.update(f"{RECIPE_REVISION} {go_version()} {' '.join(GO_BUILD)}\n".encode())
    for path in sorted([MODULE / "go.mod", MODULE / "go.sum", *MODULE.glob("*.go")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)
    os.replace(tmp, target)


def build_binary() -> Path:
    """The test binary from the cache, built first when its hash is not there."""
    cached = CACHE / recipe_hash() / "istio-verify.test"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
            out = Path(tmp) / "istio-verify.test"
            started = time.monotonic()
            print(f"verify: building the test binary (go test -c of {MODULE.relative_to(ROOT)}); a cold build takes minutes", flush=True)
            done = subprocess.run([*GO_BUILD, "-o", str(out), "."], cwd=MODULE, env={**os.environ, **GO_ENV})
            if done.returncode:
                raise RuntimeError(f"go test -c in {MODULE} failed (exit {done.returncode})")
            os.replace(out, cached)
            print(f"verify: built in {time.monotonic() - started:.1f}s -> {cached}", flush=True)
        prune(keep=cached.parent)
    link(cached, BINARY)
    return BINARY


KEEP_BINARIES = 3


def prune(keep: Path) -> None:
    """Each change of the sources is a new binary (about 100 MB): keep the newest few, `keep` among them."""
    entries = sorted((p for p in CACHE.iterdir() if p.is_dir() and p != keep), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP_BINARIES - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def helm_env() -> dict[str, str]:
    env = dict(os.environ)
    local = ROOT / "build" / "e2e" / "bin" / "helm"
    if not env.get("HELM_BIN") and local.exists():
        env["HELM_BIN"] = str(local)
    return env


def prepare(case: str, out: Path) -> None:
    stack, tenants = CASES[case]
    command = [sys.executable, "-m", "verify.istio_input", stack, "--name", case, "--out", str(out)]
    if tenants:
        command += ["--tenants", tenants]
    done = subprocess.run(command, cwd=ROOT, env=helm_env())
    if done.returncode:
        raise RuntimeError(f"verify input {case}: exit {done.returncode}")


def run_case(binary: Path, case_dir: Path, verbose: bool = False) -> int:
    """The proof of one case: findings on stdout, istiod's own log in CASE/istiod.log."""
    command = [str(binary), "-test.run", "TestTenancy", f"-input={case_dir}"]
    if verbose:
        command.append("-test.v")
    log = case_dir / "istiod.log"
    with log.open("w") as stderr:
        code = subprocess.run(command, cwd=MODULE, stderr=stderr).returncode
    if code:
        print(f"verify: istiod's log: {log.relative_to(ROOT) if log.is_relative_to(ROOT) else log}", file=sys.stderr)
    return code


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"cases to prove (default: all of {', '.join(CASES)})")
    parser.add_argument("--build-only", action="store_true", help="only build or find the test binary")
    parser.add_argument("-v", "--verbose", action="store_true", help="run the Go test verbosely")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; cases: {', '.join(CASES)}")
    try:
        binary = build_binary()
    except (RuntimeError, OSError) as err:
        print(f"verify: {err}", file=sys.stderr)
        return 2
    if args.build_only:
        return 0
    failed = []
    for case in args.cases or list(CASES):
        case_dir = BUILD / case
        started = time.monotonic()
        try:
            prepare(case, case_dir)
        except RuntimeError as err:
            print(f"verify: {err}", file=sys.stderr)
            failed.append(case)
            continue
        prepared = time.monotonic()
        code = run_case(binary, case_dir, args.verbose)
        print(f"verify {case}: input (render, helm) {prepared - started:.1f}s, proof {time.monotonic() - prepared:.1f}s", flush=True)
        if code:
            failed.append(case)
    if failed:
        print(f"verify: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
