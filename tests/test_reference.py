"""tests/reference.py: where the tests' upstream files come from, and what a run does without them."""

from __future__ import annotations

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
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry
        assert (entry.url and pinned.fullmatch(entry.url)) or (entry.derived and not entry.url), entry


def test_the_files_the_tests_read_are_exactly_the_listed_ones():
    # The shared copy, or the cache a fresh clone filled: the same files, the same bytes.
    for name in MANIFEST:
        reference_data.path(*name.split("/"))  # a missing one fails here, in one line
    assert build_manifest(reference_data.root()) == MANIFEST


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
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def test_downloads_are_checked_and_kept_once(tmp_path, mirror):
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
