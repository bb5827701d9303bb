"""Upstream reference data for the tests: ../shared/reference when present, else a checked download.

A fresh clone has no ../shared/reference. The first test run then downloads every file listed
in tests/reference.json from its upstream repository, pinned to a commit, checks it against
the sha256 listed there, and keeps it in .cache/reference (ignored by git); later runs only
check what the cache holds. Without the files and without the network, the tests that read
them fail with one line each, and the run ends with one line saying what is missing.

A derived file (no upstream file to download) is generated into the cache from its inputs, which
are downloaded like the others into .cache/reference/inputs/ (the shared copy does not hold them),
and must come out with the sha256 the manifest lists for it. An input that ships in a Go module
is taken from the Go module cache first when `go` is on PATH (`go mod download`), so that a
machine with Go needs no access to GitHub for it.

    python -m tests.reference            fetch what the cache lacks
    python -m tests.reference --update   rewrite tests/reference.json from SOURCES and ../shared/reference

Environment: ISTIO_MT_REFERENCE (the shared copy; default ../shared/reference beside the
repository), ISTIO_MT_REFERENCE_CACHE (default .cache/reference), ISTIO_MT_REFERENCE_MIRROR
(a server to fetch from instead of https://raw.githubusercontent.com, with the same paths),
ISTIO_MT_REFERENCE_GO (0: never ask `go` for an input).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).with_name("reference.json")
RAW = "https://raw.githubusercontent.com"
HOW_TO_GET = (
    "run `make test` with network access to raw.githubusercontent.com (it downloads them once into .cache/reference), "
    "or set ISTIO_MT_REFERENCE to a copy of ../shared/reference"
)

ISTIO_1_23_6 = "6a112a28410654328342c68f82da48920e34f062"
ISTIO_1_24_6 = "734e100e0cfbc22f431613b49b8932a700da6b35"
ISTIO_1_30_3 = "56df41f63e513f834c9a3af33d8aed82d1d961f2"
# istio/api tag v1.23.4. Istio 1.23.6's go.mod could not be read here (the Go module proxy serves
# no istio.io/istio 1.23 version); operator.proto is the same file in every istio/api v1.23.x tag
# it serves (v1.23.0 to v1.23.4), and the schema generated from it is the shared copy's.
ISTIO_API_1_23_4 = "eb56b2cffca7ff6a8da4f65de740c0e1e91f0688"
GATEWAY_API_1_1_0 = "690f754646e8326128fd686e3e46117ac479cfdf"
GATEWAY_API_1_5_1 = "e7677b70ae75d14a4448fba94870e7deea6cf0ad"
SAIL_OPERATOR_1_30_3 = "4241170416706137c6263939099a4f4aaefc76d1"
CRDS_CATALOG = "7b1e26ef9deea49293714d204c1a2270aab1178f"
# The observability add-ons' charts (../shared/reference/README.md, "observability add-on charts").
PROMETHEUS_CHARTS = "cf408a290aec489277a94450bb3511432477a53a"
GRAFANA_CHARTS = "3386a1156177c6bcd7fdb1ad4c6b1dda094296e0"
JAEGER_CHARTS = "6c602b54a1800ff35ea055d16789a9522166e0a6"
BITNAMI_CHARTS = "5165628ae06697f8f68a670bef7739d93c4b7f44"
OAUTH2_PROXY_CHARTS = "fe328b0b3fca2ebce87590db52b6cad7f75a5997"
KIALI_CHARTS = "03256abf169b29bacfd4faeb71a2dd3a06ce13c2"  # tag v2.29.0
REDIS_HA_CHARTS = "6224454507be15acba7a619c33fa6148a06bcf85"  # the HEAD the reference copied (2026-06-15)


class Source(NamedTuple):
    """Local files under `local` (a directory when it ends in '/') come from `upstream` in `repository` at `commit`.

    `go_module` (module@version) holds the same commit's files at the same paths, when there is one.
    """

    local: str
    repository: str
    commit: str
    upstream: str
    go_module: Optional[str] = None


# Inputs of derived files: kept in the cache only, under this directory.
INPUTS = "inputs/"
ISTIO_OPERATOR_PROTO = INPUTS + "istio-api/operator/v1alpha1/operator.proto"
ISTIO_VALUES_PROTO = INPUTS + "istio/operator/pkg/apis/istio/v1alpha1/values_types.proto"


# Where each file of ../shared/reference comes from (its README.md says why these versions).
# The longest matching `local` wins; `--update` refuses a file no source covers.
SOURCES = [
    Source("istio/crd-all.gen.yaml", "istio/istio", ISTIO_1_23_6, "manifests/charts/base/crds/crd-all.gen.yaml"),
    Source("istio/crd-operator.yaml", "istio/istio", ISTIO_1_23_6, "manifests/charts/istio-operator/crds/crd-operator.yaml"),
    Source("istio/istio-operator-chart/", "istio/istio", ISTIO_1_23_6, "manifests/charts/istio-operator/"),
    Source("istio/istio-operator-golden/", "istio/istio", ISTIO_1_23_6, "operator/cmd/mesh/testdata/operator/output/"),
    Source("istio/samples/bookinfo.yaml", "istio/istio", ISTIO_1_23_6, "samples/bookinfo/platform/kube/bookinfo.yaml"),
    Source("istio/samples/bookinfo-gateway.yaml", "istio/istio", ISTIO_1_23_6, "samples/bookinfo/networking/bookinfo-gateway.yaml"),
    Source(
        "istio/samples/destination-rule-all-mtls.yaml", "istio/istio", ISTIO_1_23_6,
        "samples/bookinfo/networking/destination-rule-all-mtls.yaml",
    ),
    Source("istio/LICENSE", "istio/istio", ISTIO_1_23_6, "LICENSE"),
    Source("istio/1.24.6/crd-all.gen.yaml", "istio/istio", ISTIO_1_24_6, "manifests/charts/base/files/crd-all.gen.yaml"),
    Source("istio/1.30.3/crd-all.gen.yaml", "istio/istio", ISTIO_1_30_3, "manifests/charts/base/files/crd-all.gen.yaml"),
    Source("istio/1.30.3/charts/base/", "istio/istio", ISTIO_1_30_3, "manifests/charts/base/"),
    Source("istio/1.30.3/charts/istiod/", "istio/istio", ISTIO_1_30_3, "manifests/charts/istio-control/istio-discovery/"),
    Source("istio/1.30.3/charts/gateway/", "istio/istio", ISTIO_1_30_3, "manifests/charts/gateway/"),
    Source("istio/1.30.3/charts/cni/", "istio/istio", ISTIO_1_30_3, "manifests/charts/istio-cni/"),
    Source("istio/1.30.3/charts/ztunnel/", "istio/istio", ISTIO_1_30_3, "manifests/charts/ztunnel/"),
    Source("istio/1.30.3/samples/addons/", "istio/istio", ISTIO_1_30_3, "samples/addons/"),
    Source(
        "istio/docs/multiple-controlplanes.md", "istio/istio.io", "7134c22dfb2cb30cbc37ada86be1c2eb28db40b0",
        "content/en/docs/setup/install/multiple-controlplanes/index.md",
    ),
    Source(
        "istio/docs/gateway-install.md", "istio/istio.io", "44ec557d9b7abb17a373abc56fb4d4406672c8c3",
        "content/en/docs/setup/additional-setup/gateway/index.md",
    ),
    # The Go module proxy serves these two tags: a machine with `go` and no GitHub still gets them.
    Source("gateway-api/", "kubernetes-sigs/gateway-api", GATEWAY_API_1_1_0, "config/crd/standard/", "sigs.k8s.io/gateway-api@v1.1.0"),
    Source("gateway-api/LICENSE", "kubernetes-sigs/gateway-api", GATEWAY_API_1_1_0, "LICENSE", "sigs.k8s.io/gateway-api@v1.1.0"),
    Source("gateway-api/v1.5.1/", "kubernetes-sigs/gateway-api", GATEWAY_API_1_5_1, "config/crd/standard/", "sigs.k8s.io/gateway-api@v1.5.1"),
    Source(
        "gateway-api/v1.5.1/experimental/", "kubernetes-sigs/gateway-api", GATEWAY_API_1_5_1, "config/crd/experimental/",
        "sigs.k8s.io/gateway-api@v1.5.1",
    ),
    Source("sail-operator/1.30.3/chart/", "istio-ecosystem/sail-operator", SAIL_OPERATOR_1_30_3, "chart/"),
    Source(
        "sail-operator/1.30.3/docs/multiple-mesh.adoc", "istio-ecosystem/sail-operator", SAIL_OPERATOR_1_30_3,
        "docs/deployment-models/multiple-mesh.adoc",
    ),
    Source(
        "sail-operator/1.30.3/docs/update-strategy.adoc", "istio-ecosystem/sail-operator", SAIL_OPERATOR_1_30_3,
        "docs/update-strategy/update-strategy.adoc",
    ),
    Source(
        "sail-operator/1.30.3/docs/create-and-configure-gateways.adoc", "istio-ecosystem/sail-operator",
        SAIL_OPERATOR_1_30_3, "docs/common/create-and-configure-gateways.adoc",
    ),
    Source("sail-operator/1.30.3/docs/resources/", "istio-ecosystem/sail-operator", SAIL_OPERATOR_1_30_3, "docs/deployment-models/resources/"),
    Source("sail-operator/LICENSE", "istio-ecosystem/sail-operator", SAIL_OPERATOR_1_30_3, "LICENSE"),
    Source("crds-catalog/", "datreeio/CRDs-catalog", CRDS_CATALOG, ""),
    Source("addons/prometheus/", "prometheus-community/helm-charts", PROMETHEUS_CHARTS, "charts/prometheus/"),
    *(
        Source(f"addons/prometheus/charts/{sub}/", "prometheus-community/helm-charts", PROMETHEUS_CHARTS, f"charts/{sub}/")
        for sub in ("alertmanager", "kube-state-metrics", "prometheus-node-exporter", "prometheus-pushgateway")
    ),
    Source("addons/grafana/", "grafana-community/helm-charts", GRAFANA_CHARTS, "charts/grafana/"),
    Source("addons/kiali-server/", "kiali/helm-charts", KIALI_CHARTS, "kiali-server/"),
    Source("addons/jaeger/", "jaegertracing/helm-charts", JAEGER_CHARTS, "charts/jaeger/"),
    Source("addons/jaeger/charts/common/", "bitnami/charts", BITNAMI_CHARTS, "bitnami/common/"),
    Source("addons/oauth2-proxy/", "oauth2-proxy/manifests", OAUTH2_PROXY_CHARTS, "helm/oauth2-proxy/"),
    Source("addons/oauth2-proxy/charts/redis-ha/", "DandyDeveloper/charts", REDIS_HA_CHARTS, "charts/redis-ha/"),
    # Only on the unmerged pull request's head, kept for provenance.
    Source("crds-catalog/_unmerged-pr-631/", "datreeio/CRDs-catalog", "074d3b5d96804949c06e4230c9aa4e8ef71c7817", ""),
    Source(ISTIO_OPERATOR_PROTO, "istio/api", ISTIO_API_1_23_4, "operator/v1alpha1/operator.proto", "istio.io/api@v1.23.4"),
    Source(
        ISTIO_VALUES_PROTO, "istio/istio", ISTIO_1_23_6, "operator/pkg/apis/istio/v1alpha1/values_types.proto",
        "istio.io/istio@v0.0.0-20250403050546-6a112a284106",
    ),
]


def _istio_operator_schema(operator_proto: str, values_proto: str) -> str:
    from tests.istiooperator_schema import dumps, generate

    return dumps(generate(operator_proto, values_proto))


class Derivation(NamedTuple):
    why: str
    inputs: tuple[str, ...]
    make: Callable[..., str]  # the inputs' texts, in order -> the file's text


# Files that are no upstream file, so nothing to download: generated from their inputs, and
# listed with their sha256 all the same (the generated bytes must be the shared copy's).
DERIVED = {
    "istio/istiooperator-1.23.6.schema.json": Derivation(
        "derived: generated by tests/istiooperator_schema.py from istio/api operator/v1alpha1/operator.proto "
        "and istio/istio operator/pkg/apis/istio/v1alpha1/values_types.proto at 1.23.6",
        (ISTIO_OPERATOR_PROTO, ISTIO_VALUES_PROTO),
        _istio_operator_schema,
    ),
}
# The reference directory's own notes.
NOT_UPSTREAM = {"README.md"}


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the reference directory, with '/'
    sha256: Optional[str]  # None only for an input not pinned yet: its derived file's sha256 checks it
    url: Optional[str] = None
    derived: Optional[str] = None  # why there is no URL
    inputs: Optional[tuple[str, ...]] = None  # of a derived file
    input_of: Optional[str] = None  # the derived file an input is for
    go: Optional[str] = None  # module@version holding the file at its upstream path


class ReferenceMissing(Exception):
    """A reference file a test needs is not there: the message is the one line to show."""


class NotInManifest(Exception):
    """A test reads a reference file that tests/reference.json does not list (a fresh clone would lack it)."""


# --- Where the files are ----------------------------------------------------------------------


def shared_dir() -> Path:
    return Path(os.environ.get("ISTIO_MT_REFERENCE") or PROJECT_ROOT.parent / "shared" / "reference")


def cache_dir() -> Path:
    return Path(os.environ.get("ISTIO_MT_REFERENCE_CACHE") or PROJECT_ROOT / ".cache" / "reference")


def root() -> Path:
    """The directory tests read: the shared copy when there is one, else the cache."""
    shared = shared_dir()
    return shared if shared.is_dir() else cache_dir()


def load_manifest(path: Path = MANIFEST) -> dict[str, Entry]:
    document = json.loads(path.read_text(encoding="utf-8"))
    entries = ({"sha256": None, **e, **({"inputs": tuple(e["inputs"])} if "inputs" in e else {})} for e in document["files"])
    return {e["path"]: Entry(**e) for e in entries}


# --- The state of this run ----------------------------------------------------------------------


@dataclass
class Status:
    root: Path
    total: int
    missing: dict[str, str]  # path -> why it is not there

    def line(self) -> str:
        """One line for the whole run: what is missing and how to get it."""
        reasons: dict[str, list[str]] = {}
        for path, reason in self.missing.items():
            reasons.setdefault(reason, []).append(path)
        groups = sorted(reasons.items(), key=lambda item: -len(item[1]))
        shown = [f"{paths[0]}: {reason}" if len(paths) == 1 else f"{len(paths)} files: {reason}" for reason, paths in groups[:2]]
        others = sum(len(paths) for _, paths in groups[2:])
        why = "; ".join(shown + ([f"{others} more for other reasons"] if others else []))
        return (
            f"reference data missing: {len(self.missing)} of {self.total} files, with {shared_dir()} absent "
            f"and not in {self.root} ({why}); {HOW_TO_GET}"
        )


_status: Optional[Status] = None
_lock = threading.Lock()


def status(progress=None) -> Status:
    """This run's reference data, fetched into the cache on first use when there is no shared copy."""
    global _status
    with _lock:
        if _status is None:
            _status = prepare(progress=progress)
        return _status


def prepare(manifest: Optional[dict[str, Entry]] = None, progress=None) -> Status:
    manifest = load_manifest() if manifest is None else manifest
    shared = shared_dir()
    if shared.is_dir():
        return Status(shared, len(manifest), {})
    return fetch(manifest.values(), cache_dir(), os.environ.get("ISTIO_MT_REFERENCE_MIRROR"), progress)


def path(*parts: str) -> Path:
    """A reference file or directory a test reads; ReferenceMissing (one line) when it is not there."""
    relative = "/".join(parts)
    manifest = _manifest()
    if relative in manifest and manifest[relative].input_of:
        return _input(relative)
    current = status()
    full = current.root.joinpath(*parts)
    listed = [p for p in manifest if p == relative or p.startswith(relative + "/")]
    if not listed:
        raise NotInManifest(f"reference file {relative} is not in tests/reference.json: {_how_to_list()}")
    if full.is_dir() and current.root == shared_dir():
        unlisted = sorted(p.relative_to(current.root).as_posix() for p in full.rglob("*") if p.is_file())
        unlisted = [p for p in unlisted if p not in manifest]
        if unlisted:  # a directory the cache would hold only in part
            raise NotInManifest(f"reference files {', '.join(unlisted[:3])} are not in tests/reference.json: {_how_to_list()}")
    missing = [p for p in listed if p in current.missing or not current.root.joinpath(p).is_file()]
    if missing:
        reason = current.missing.get(missing[0], "not there")
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ReferenceMissing(f"reference data missing: {missing[0]}{more} ({reason}); {HOW_TO_GET}")
    return full


_inputs: dict[str, Optional[str]] = {}  # input -> why it could not be had, once per run


def _input(relative: str) -> Path:
    """An input of a derived file: always from the cache (the shared copy has none), fetched on first use."""
    entry = _manifest()[relative]
    with _lock:
        if relative not in _inputs:
            fetched = fetch([entry], cache_dir(), os.environ.get("ISTIO_MT_REFERENCE_MIRROR"))
            _inputs[relative] = fetched.missing.get(relative)
    if _inputs[relative] is not None:
        how = f"`go mod download {entry.go}` (with `go` on PATH) or network access" if entry.go else "network access"
        raise ReferenceMissing(f"reference data missing: {relative} ({_inputs[relative]}); it needs {how}")
    return cache_dir() / relative


@functools.lru_cache(maxsize=None)
def _manifest() -> dict[str, Entry]:
    return load_manifest()


def _how_to_list() -> str:
    return "add its source to SOURCES in tests/reference.py and run `python -m tests.reference --update`"


# --- Downloading -----------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _holds(file: Path, sha256: Optional[str]) -> bool:
    try:
        data = file.read_bytes()
    except OSError:
        return False
    return sha256 is None or _sha256(data) == sha256


def _write(file: Path, data: bytes) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".part")
    partial.write_bytes(data)
    os.replace(partial, file)


def from_go_module(module: str, inside: str) -> tuple[Optional[bytes], str]:
    """A file of a Go module (module@version) through `go mod download`: (its bytes, or None and why)."""
    go = shutil.which("go")
    if go is None or os.environ.get("ISTIO_MT_REFERENCE_GO") == "0":
        return None, "no `go` to read the Go module cache"
    with tempfile.TemporaryDirectory() as outside_any_module:
        try:
            result = subprocess.run(
                [go, "mod", "download", "-json", module], cwd=outside_any_module,
                capture_output=True, text=True, timeout=300,
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return None, f"`go mod download {module}` failed: {err}"
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        answer = {"Error": (result.stderr.strip().splitlines() or ["no answer"])[-1]}
    if answer.get("Error") or not answer.get("Dir"):
        return None, f"`go mod download {module}`: {answer.get('Error', 'no directory').splitlines()[0]}"
    try:
        return (Path(answer["Dir"]) / inside).read_bytes(), ""
    except OSError as err:
        return None, f"{module} has no {inside}: {err.strerror}"


def _upstream_path(entry: Entry) -> str:
    """The file's path in its repository (and so in its Go module), from its pinned URL."""
    return urllib.parse.unquote(entry.url[len(RAW):].split("/", 4)[4])


def fetch(entries, cache: Path, mirror: Optional[str] = None, progress=None, workers: int = 8) -> Status:
    """Get the entries the cache lacks (or holds altered), each checked against its sha256, then derive."""
    entries = list(entries)
    wanted = [e for e in entries if not _holds(cache / e.path, e.sha256)]
    missing: dict[str, str] = {}
    downloads = [e for e in wanted if e.url is not None]
    if downloads and progress:
        progress(f"downloading {len(downloads)} reference files into {cache} (../shared/reference is absent)")
    unreachable: list[str] = []  # once the server is unreachable, no point asking for the rest

    def checked(entry: Entry, data: bytes, origin: str, where: str) -> Optional[str]:
        if entry.sha256 is not None and _sha256(data) != entry.sha256:
            return f"refused: {origin}'s sha256 is not the one tests/reference.json lists ({where})"
        _write(cache / entry.path, data)
        return None

    def get(entry: Entry) -> Optional[str]:
        tried = ""  # why the Go module cache did not give it
        if entry.go:
            data, tried = from_go_module(entry.go, _upstream_path(entry))
            if data is not None:
                tried = checked(entry, data, "the Go module", entry.go)
                if tried is None:
                    return None
            tried += "; "
        problem = download(entry)
        return tried + problem if problem else None

    def download(entry: Entry) -> Optional[str]:
        if unreachable:
            return unreachable[0]
        url = entry.url if not mirror else mirror.rstrip("/") + entry.url[len(RAW):]
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                data = response.read()
        except urllib.error.HTTPError as err:
            return f"HTTP {err.code} from {url}"
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            unreachable.append(f"{urllib.parse.urlsplit(url).netloc} unreachable: {reason}")
            return unreachable[0]
        return checked(entry, data, "the download", url)

    with ThreadPoolExecutor(workers) as pool:
        for entry, problem in zip(downloads, pool.map(get, downloads)):
            if problem:
                missing[entry.path] = problem
    listed = {e.path: e for e in entries}
    for entry in wanted:
        if entry.url is None:
            problem = derive(entry, listed, cache, missing)
            if problem:
                missing[entry.path] = problem
    return Status(cache, len(entries), missing)


def derive(entry: Entry, listed: dict[str, Entry], cache: Path, missing: dict[str, str]) -> Optional[str]:
    """Generate a derived file into the cache from its inputs; why not, if it cannot be."""
    derivation = DERIVED.get(entry.path)
    if derivation is None or not entry.inputs:
        return entry.derived or "derived, and no way to generate it is known"
    for name in entry.inputs:
        if name not in listed:
            return f"derived from {name}, which tests/reference.json does not list"
        if name in missing or not (cache / name).is_file():
            return f"derived from {name}: {missing.get(name, 'not there')}"
    texts = [(cache / name).read_text(encoding="utf-8") for name in entry.inputs]
    try:
        data = derivation.make(*texts).encode("utf-8")
    except ValueError as err:  # the generator's own errors say which input and where
        return f"generating it failed: {err}"
    if _sha256(data) != entry.sha256:
        for name in entry.inputs:
            if listed[name].sha256 is None:  # not pinned: the generated file was its check, and it failed
                (cache / name).unlink(missing_ok=True)
        return "generated from its inputs, but not the bytes tests/reference.json lists (the inputs or the generator differ)"
    _write(cache / entry.path, data)
    return None


# --- The manifest ----------------------------------------------------------------------------------


def source_of(relative: str) -> Optional[Source]:
    matches = [s for s in SOURCES if relative == s.local or (s.local.endswith("/") and relative.startswith(s.local))]
    return max(matches, key=lambda s: len(s.local), default=None)


def _located(relative: str, source: Source, sha256: Optional[str], **more) -> Entry:
    upstream = source.upstream + relative[len(source.local):] if source.local.endswith("/") else source.upstream
    url = f"{RAW}/{source.repository}/{source.commit}/{urllib.parse.quote(upstream)}"
    return Entry(relative, sha256, url=url, go=source.go_module, **more)


def build_manifest(directory: Path) -> dict[str, Entry]:
    """Every file of the reference directory, with its upstream URL (or how it is derived) and sha256."""
    entries: dict[str, Entry] = {}
    unknown = []
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = file.relative_to(directory).as_posix()
        if relative in NOT_UPSTREAM or relative.startswith(INPUTS) or relative.endswith(".part"):
            continue
        sha256 = _sha256(file.read_bytes())
        if relative in DERIVED:
            derivation = DERIVED[relative]
            entries[relative] = Entry(relative, sha256, derived=derivation.why, inputs=derivation.inputs)
            continue
        source = source_of(relative)
        if source is None:
            unknown.append(relative)
            continue
        entries[relative] = _located(relative, source, sha256)
    if unknown:
        raise ValueError(f"no source in tests/reference.py SOURCES for: {', '.join(unknown)}")
    return entries


def input_entries(directory: Path, known: dict[str, Entry], cache: Path, progress=print) -> dict[str, Entry]:
    """The derived files' inputs, pinned: each fetched from its commit, and its derived file generated
    from them must be the one in `directory`. An input that cannot be had keeps its `known` sha256."""
    entries: dict[str, Entry] = {}
    for derived, derivation in DERIVED.items():
        for name in derivation.inputs:
            source = source_of(name)
            if source is None:
                raise ValueError(f"no source in tests/reference.py SOURCES for {name}, an input of {derived}")
            unpinned = _located(name, source, None, input_of=derived)
            got = fetch([unpinned], cache, os.environ.get("ISTIO_MT_REFERENCE_MIRROR"))
            if got.missing:
                sha256 = known[name].sha256 if name in known else None
                progress(f"{name}: {got.missing[name]}; {'kept its listed sha256' if sha256 else 'left unpinned'}")
            else:
                sha256 = _sha256((cache / name).read_bytes())
            entries[name] = _located(name, source, sha256, input_of=derived)
        if all(n in entries and _holds(cache / n, entries[n].sha256) and entries[n].sha256 for n in derivation.inputs):
            texts = [(cache / n).read_text(encoding="utf-8") for n in derivation.inputs]
            if derivation.make(*texts).encode("utf-8") != (directory / derived).read_bytes():
                raise ValueError(f"{derived} generated from its pinned inputs is not the one in {directory}")
    return entries


def manifest_text(entries: dict[str, Entry]) -> str:
    files = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(e).items() if v is not None} for e in entries.values()]
    document = {
        "about": "Upstream files the tests read: local path, pinned URL (or how it is derived) and sha256. "
        "Written by `python -m tests.reference --update` from ../shared/reference.",
        "files": files,
    }
    return json.dumps(document, indent=1) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite tests/reference.json from SOURCES and the shared copy")
    args = parser.parse_args(argv)
    if args.update:
        shared = shared_dir()
        if not shared.is_dir():
            print(f"{shared}: no such directory; --update reads the shared copy", file=sys.stderr)
            return 2
        try:
            entries = build_manifest(shared)
            known = load_manifest() if MANIFEST.is_file() else {}
            entries.update(input_entries(shared, known, cache_dir()))
        except ValueError as err:
            print(err, file=sys.stderr)
            return 2
        MANIFEST.write_text(manifest_text(entries), encoding="utf-8")
        print(f"wrote {MANIFEST.relative_to(PROJECT_ROOT)}: {len(entries)} files")
        return 0
    current = prepare(progress=print)
    if current.missing:
        print(current.line(), file=sys.stderr)
        return 1
    print(f"reference data complete in {current.root}: {current.total} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
