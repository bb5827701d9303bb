"""tests/reference.py: where the tests' upstream files come from, and what a run does without them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from render.engine import PROJECT_ROOT
from tests import reference as reference_data
from tests.reference import RAW, Entry, build_manifest, fetch, load_manifest

MANIFEST = load_manifest()
PICKED = ["istio/crd-operator.yaml", "istio/istio-operator-chart/templates/clusterrole.yaml", "gateway-api/gateway.networking.k8s.io_gateways.yaml"]
TAMPERED = "istio/samples/bookinfo.yaml"


def test_every_file_is_pinned_to_a_commit_and_listed_with_its_sha256():
    pinned = re.compile(rf"{re.escape(RAW)}/[\w.-]+/[\w.-]+/[0-9a-f]{{40}}/\S+")
    for entry in MANIFEST.values():
        if entry.sha256 is None:  # an input not pinned yet: only the sha256 of the file derived from it checks it
            assert entry.input_of and MANIFEST[entry.input_of].sha256 and entry.path in MANIFEST[entry.input_of].inputs, entry
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry
        assert (entry.url and pinned.fullmatch(entry.url)) or (entry.derived and not entry.url), entry
    for entry in MANIFEST.values():
        if entry.derived:  # derived from listed inputs that are kept apart from the shared copy's files
            assert entry.inputs and all(MANIFEST[name].input_of == entry.path for name in entry.inputs), entry
            assert all(name.startswith(reference_data.INPUTS) for name in entry.inputs), entry


def test_the_files_the_tests_read_are_exactly_the_listed_ones():
    # The shared copy, or the cache a fresh clone filled: the same files, the same bytes.
    files = {name: entry for name, entry in MANIFEST.items() if not entry.input_of}
    for name in files:
        reference_data.path(*name.split("/"))  # a missing one fails here, in one line
    assert build_manifest(reference_data.root()) == files


def test_a_test_reading_an_unlisted_file_is_told_how_to_list_it():
    with pytest.raises(reference_data.NotInManifest, match=r"python -m tests.reference --update"):
        reference_data.path("istio", "not-listed.yaml")


@pytest.fixture
def mirror(tmp_path):
    """A server on this machine with raw.githubusercontent.com's paths, holding the picked files."""
    served = tmp_path / "mirror"
    for name in [*PICKED, TAMPERED]:
        target = served / MANIFEST[name].url[len(RAW) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(reference_data.path(*name.split("/")), target)
    with _serve(served) as (url, requests):
        yield url, requests


@contextlib.contextmanager
def _serve(served: Path):
    """A server on this machine for the files under `served`: its URL, and the paths asked for."""
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_downloads_are_checked_and_kept_once(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("ISTIO_MT_REFERENCE_GO", "0")  # the Gateway API file would come from Go's module cache
    url, requests = mirror
    cache = tmp_path / "cache"
    picked = [MANIFEST[name] for name in PICKED]
    tampered = Entry(TAMPERED, "0" * 64, url=MANIFEST[TAMPERED].url)  # the bytes served are not these

    status = fetch([*picked, tampered], cache, url)
    assert list(status.missing) == [TAMPERED]
    assert status.missing[TAMPERED].startswith("refused: the download's sha256 is not the one tests/reference.json lists")
    assert not (cache / TAMPERED).exists()
    for entry in picked:
        assert (cache / entry.path).read_bytes() == reference_data.path(*entry.path.split("/")).read_bytes()
    assert len(requests) == 4

    requests.clear()
    assert fetch(picked, cache, url).missing == {} and requests == []  # once
    (cache / picked[0].path).write_text("changed by hand")
    assert fetch(picked, cache, url).missing == {} and len(requests) == 1
    assert (cache / picked[0].path).read_bytes() == reference_data.path(*picked[0].path.split("/")).read_bytes()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_the_files_or_the_network_each_test_fails_in_one_line(tmp_path):
    env = dict(
        os.environ,
        ISTIO_MT_REFERENCE=str(tmp_path / "hidden"),
        ISTIO_MT_REFERENCE_CACHE=str(tmp_path / "cache"),
        ISTIO_MT_REFERENCE_MIRROR=f"http://127.0.0.1:{_closed_port()}",
        ISTIO_MT_REFERENCE_GO="0",  # nor a Go module cache to take an input from
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_operator_install.py"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    out = result.stdout
    assert result.returncode == 1 and "Traceback" not in out and "Error" not in out, out
    # Each failure is its heading and one line; the run ends with one line for all of them.
    failures = re.findall(r"^_{3,} (\S+) _{3,}\n(.*?)\n(?=_{3,} |reference data missing: \d+ of)", out, re.M | re.S)
    failed = re.search(r"\b(\d+) failed\b", out)
    assert failures and failed and len(failures) == int(failed.group(1)), out
    for name, body in failures:
        assert re.fullmatch(r"reference data missing: istio/\S+ \(127\.0\.0\.1:\d+ unreachable: .*\); run `make test` with "
                            r"network access .*, or set ISTIO_MT_REFERENCE to a copy of \.\./shared/reference", body), body
    summary = [line for line in out.splitlines() if line.startswith(f"reference data missing: {len(MANIFEST)} of {len(MANIFEST)} files")]
    assert len(summary) == 1, out
    assert not any(Path(tmp_path / "cache").rglob("*.yaml"))


# --- Derived files: generated from their inputs ----------------------------------------------------

SYNTHETIC_OPERATOR = 'syntax = "proto3";\nmessage IstioOperatorSpec { string profile = 1; google.protobuf.Struct values = 2; }\n'
SYNTHETIC_VALUES = "syntax = 'proto3';\nmessage Values { int64 pods = 1; }\n"
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def derivable(tmp_path, monkeypatch):
    """A derived file whose two inputs (one pinned, one not) a local mirror serves."""
    served = tmp_path / "mirror"
    inputs = {"inputs/operator.proto": SYNTHETIC_OPERATOR, "inputs/values.proto": SYNTHETIC_VALUES}
    entries = {}
    for name, text in inputs.items():
        url = f"{RAW}/istio/example/{FAKE_COMMIT}/{name}"
        (served / url[len(RAW) + 1:]).parent.mkdir(parents=True, exist_ok=True)
        (served / url[len(RAW) + 1:]).write_text(text)
        pinned = reference_data._sha256(text.encode()) if name.endswith("operator.proto") else None
        entries[name] = Entry(name, pinned, url=url, input_of="example/schema.json")
    make = reference_data.DERIVED["istio/istiooperator-1.23.6.schema.json"].make
    monkeypatch.setitem(reference_data.DERIVED, "example/schema.json", reference_data.Derivation("why", tuple(inputs), make))
    expected = make(SYNTHETIC_OPERATOR, SYNTHETIC_VALUES).encode()
    derived = Entry("example/schema.json", reference_data._sha256(expected), derived="why", inputs=tuple(inputs))
    with _serve(served) as (url, requests):
        yield url, requests, entries, derived, expected


def test_a_derived_file_is_generated_from_its_downloaded_inputs(tmp_path, derivable):
    url, requests, inputs, derived, expected = derivable
    cache = tmp_path / "cache"
    status = reference_data.fetch([*inputs.values(), derived], cache, url)
    assert status.missing == {}
    assert (cache / derived.path).read_bytes() == expected
    assert json.loads(expected)["properties"]["spec"]["properties"]["values"] == {"$ref": "#/$defs/values.Values"}
    assert sorted(requests) == sorted(f"/istio/example/{FAKE_COMMIT}/{name}" for name in inputs)
    requests.clear()
    assert reference_data.fetch([*inputs.values(), derived], cache, url).missing == {} and requests == []  # kept


def test_a_derived_file_that_comes_out_other_than_listed_is_refused(tmp_path, derivable):
    url, _, inputs, derived, _ = derivable
    cache = tmp_path / "cache"
    wrong = Entry(derived.path, "0" * 64, derived="why", inputs=derived.inputs)
    status = reference_data.fetch([*inputs.values(), wrong], cache, url)
    assert status.missing == {
        wrong.path: "generated from its inputs, but not the bytes tests/reference.json lists (the inputs or the generator differ)",
    }
    assert not (cache / wrong.path).exists()
    # The unpinned input was only as good as what it generated: it goes, the pinned one stays.
    assert not (cache / "inputs/values.proto").exists() and (cache / "inputs/operator.proto").is_file()


def test_a_derived_file_whose_input_is_missing_says_which_and_why(tmp_path, derivable):
    _, _, inputs, derived, _ = derivable
    closed = f"http://127.0.0.1:{_closed_port()}"
    status = reference_data.fetch([*inputs.values(), derived], tmp_path / "cache", closed)
    assert re.fullmatch(r"derived from inputs/operator\.proto: 127\.0\.0\.1:\d+ unreachable: .*", status.missing[derived.path])
    assert not (tmp_path / "cache" / derived.path).exists()


@pytest.mark.parametrize("name, module", [
    (reference_data.ISTIO_OPERATOR_PROTO, "istio.io/api@v1.23.4"),
    # The Go module proxy serves the Gateway API's tags: a machine without GitHub still gets its CRDs.
    ("gateway-api/gateway.networking.k8s.io_gateways.yaml", "sigs.k8s.io/gateway-api@v1.1.0"),
    ("gateway-api/v1.5.1/experimental/gateway.networking.k8s.io_tcproutes.yaml", "sigs.k8s.io/gateway-api@v1.5.1"),
])
def test_a_file_from_a_go_module_is_taken_from_the_go_module_cache_first(tmp_path, name, module):
    entry = MANIFEST[name]
    assert entry.go == module and entry.sha256
    if shutil.which("go") is None:
        pytest.skip("no `go` on PATH: the file is downloaded instead")
    closed = f"http://127.0.0.1:{_closed_port()}"
    status = reference_data.fetch([entry], tmp_path / "cache", closed)
    if status.missing:  # no module cache and no module proxy: both ways were tried, Go first
        assert re.match(rf"`go mod download {re.escape(module)}`: .*; 127\.0\.0\.1:\d+ unreachable", status.missing[entry.path])
    else:
        assert reference_data._sha256((tmp_path / "cache" / entry.path).read_bytes()) == entry.sha256
