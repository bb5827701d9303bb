"""Every shape of mistake in a tenants file, end to end.

Each case gives a file and the exact lines a user must see ({file} is the file's path), and
asserts them on every way in:
- the loader (`load_tenants`) raises a ConfigError with exactly those lines;
- `python -m render validate --tenants FILE` and `python -m render dev --tenants FILE --out DIR`
  exit 2 with exactly those lines on stderr, nothing on stdout, and write no file;
- the program, run as `pulumi up` runs it (the mock engine), raises pulumi.RunError with
  exactly that text, having registered no resource.

"No resource registered": the only registration is the root `pulumi:pulumi:Stack`, which the
engine (the mock one here, the real one under `pulumi up`) creates before the program's first
line; the program itself registers nothing, not even its provider.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import pulumi
import pytest

from render.engine import PROJECT_ROOT, run_program
from tenants import ConfigError, load_tenants

DNS_LABEL = "lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
SERVICE_NAME = "lower case letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters"
LABEL_KEY = (
    "an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', "
    "starting and ending with a letter or digit"
)
LABEL_VALUE = "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
TENANT_KEYS = "admins, decommission, egress, exports, gateway, imports, name, namespace, podSecurity, previousNames, quota, routes"
PROGRAM_STACK = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Case:
    id: str
    text: Union[str, bytes, None]  # None: the file does not exist
    expected: tuple[str, ...]


def case(id: str, text: Union[str, bytes, None], *expected: str) -> Case:
    if isinstance(text, str):
        text = textwrap.dedent(text).lstrip("\n")
    return Case(id, text, expected)


CASES = [
    # --- The file itself ------------------------------------------------------------------
    case("missing-file", None, "{file}: no such tenants file"),
    case("empty-file", "", "{file}: the file is empty; expected a mapping with a 'tenants' list"),
    case("only-comments", "# tenants: to come\n", "{file}: the file is empty; expected a mapping with a 'tenants' list"),
    case("not-utf8", b"tenants: [\xff]\n", "{file}: not UTF-8 text (invalid start byte at byte 10)"),
    case(
        "not-yaml",
        """
        tenants:
          - name: a
           gateway: {}
        """,
        "{file}:3: not valid YAML: did not find expected '-' indicator",
    ),
    case(
        "tab-indent",
        "tenants:\n\t- name: a\n",
        "{file}:2: not valid YAML: found character that cannot start any token (a tab: YAML indents with spaces)",
    ),
    case(
        "top-level-list",
        "- name: a\n",
        "{file}:1: expected a mapping at the top level (controlPlane, observability, tenants), got a list",
    ),
    case(
        "top-level-string",
        "tenants are listed below\n",
        "{file}:1: expected a mapping at the top level (controlPlane, observability, tenants), got a string",
    ),
    # --- Shape: unknown keys, duplicates, types ---------------------------------------------
    case(
        "unknown-top-level-key",
        """
        tenant:
          - name: a
        """,
        "{file}:1: tenant: unknown field 'tenant' (did you mean 'tenants'?); allowed: controlPlane, observability, platformIdentities, tenants",
    ),
    case(
        "unknown-tenant-key",
        """
        tenants:
          - name: a
            gatway: {}
        """,
        f"{{file}}:3: tenants[a].gatway: unknown field 'gatway' (did you mean 'gateway'?); allowed: {TENANT_KEYS}",
    ),
    case(
        "unknown-server-key",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, protocl: HTTP}
        """,
        "{file}:5: tenants[a].gateway.servers[0].protocl: unknown field 'protocl' (did you mean 'protocol'?); "
        "allowed: hosts, name, port, protocol, tls",
    ),
    case(
        "duplicate-key",
        """
        tenants:
          - name: a
            namespace: team-a
            namespace: team-b
        """,
        "{file}:4: tenants[a].namespace: key 'namespace' appears twice in this mapping",
    ),
    case("tenants-not-a-list", "tenants: {name: a}\n", "{file}:1: tenants: expected a list, got a mapping"),
    case(
        "tenant-not-a-mapping",
        """
        tenants:
          - a
        """,
        "{file}:2: tenants[0]: expected a mapping, got a string",
    ),
    case(
        "tenant-without-name",
        """
        tenants:
          - namespace: team-a
        """,
        "{file}:2: tenants[0].name: is required",
    ),
    case(
        "boolean-as-string",
        """
        tenants:
          - name: a
            decommission: "yes"
        """,
        "{file}:3: tenants[a].decommission: 'yes' is not true or false",
    ),
    # --- Names and namespaces ---------------------------------------------------------------
    case(
        "name-not-dns-label",
        """
        tenants:
          - name: Team_A
        """,
        f"{{file}}:2: tenants[Team_A].name: 'Team_A' is not a DNS-1123 label ({DNS_LABEL})",
    ),
    case(
        "name-too-long",
        f"""
        tenants:
          - name: {"a" * 64}
        """,
        f"{{file}}:2: tenants[0].name: '{'a' * 64}' is not a DNS-1123 label ({DNS_LABEL})",
    ),
    case(
        "duplicate-tenant-name",
        """
        tenants:
          - name: a
          - name: a
        """,
        # Only the name: the namespace, gateway name and labels derived from it follow from it.
        "{file}:3: tenants[a].name: tenant name 'a' is already used by tenant 'a'; each tenant needs its own",
    ),
    case(
        "duplicate-namespace",
        """
        tenants:
          - name: a
            namespace: shared
          - name: b
            namespace: shared
        """,
        "{file}:5: tenants[b].namespace: namespace 'shared' is already used by tenant 'a'; each tenant needs its own",
    ),
    case(
        "duplicate-gateway-name",
        """
        tenants:
          - name: a
            gateway: {name: edge}
          - name: b
            gateway: {name: edge}
        """,
        "{file}:5: tenants[b].gateway.name: gateway name 'edge' is already used by tenant 'a'; each tenant needs its own",
    ),
    case(
        "system-namespace",
        """
        tenants:
          - name: kube-system
        """,
        "{file}:2: tenants[kube-system].name: namespace 'kube-system' is a system namespace; "
        "a tenant needs a namespace of its own",
    ),
    case(
        "default-namespace",
        """
        tenants:
          - name: a
            namespace: default
        """,
        "{file}:3: tenants[a].namespace: namespace 'default' is a system namespace; a tenant needs a namespace of its own",
    ),
    case(
        "operator-namespace",
        """
        tenants:
          - name: a
            namespace: istio-operator
        """,
        "{file}:3: tenants[a].namespace: namespace 'istio-operator' is a system namespace; "
        "a tenant needs a namespace of its own",
    ),
    case(
        "control-plane-namespace",
        """
        controlPlane: {namespace: mesh-system}
        tenants:
          - name: a
            namespace: mesh-system
        """,
        "{file}:4: tenants[a].namespace: namespace 'mesh-system' is the control-plane namespace; "
        "a tenant needs a namespace of its own",
    ),
    case(
        "default-gateway-name-invalid",
        """
        tenants:
          - name: 1st-team
        """,
        "{file}:2: tenants[1st-team].name: the default gateway name '1st-team-ingressgw' is not a Service name "
        "(starting with a letter, at most 63 characters); set gateway.name",
    ),
    # --- Gateway labels and selectors -------------------------------------------------------
    case(
        "label-key-invalid",
        """
        tenants:
          - name: a
            gateway:
              labels: {"my app": shop}
        """,
        f"{{file}}:4: tenants[a].gateway.labels: label key 'my app' is not a Kubernetes label key ({LABEL_KEY})",
    ),
    case(
        "label-value-not-a-string",
        """
        tenants:
          - name: a
            gateway:
              labels: {istio: gw-a, version: 2}
        """,
        "{file}:4: tenants[a].gateway.labels: label 'version': value 2 is not a string (quote it)",
    ),
    case(
        "label-value-invalid",
        """
        tenants:
          - name: a
            gateway:
              labels: {istio: -gw-a-}
        """,
        f"{{file}}:4: tenants[a].gateway.labels: label 'istio': '-gw-a-' is not a Kubernetes label value ({LABEL_VALUE})",
    ),
    case(
        "labels-empty",
        """
        tenants:
          - name: a
            gateway:
              labels: {}
        """,
        "{file}:4: tenants[a].gateway.labels: labels must not be empty: an empty selector would match every gateway",
    ),
    case(
        "labels-selected-by-control-plane",
        """
        tenants:
          - name: a
            gateway:
              labels: {istio: ingressgateway, team: a}
        """,
        "{file}:4: tenants[a].gateway.labels: labels {istio: ingressgateway, team: a} would be selected by the "
        "control-plane gateway's selector {istio: ingressgateway}; use labels unique to the tenant",
    ),
    case(
        "labels-selected-by-another-tenant",
        """
        tenants:
          - name: a
            gateway:
              labels: {istio: gw-a}
          - name: b
            gateway:
              labels: {istio: gw-a, team: b}
        """,
        "{file}:7: tenants[b].gateway.labels: labels {istio: gw-a, team: b} would be selected by tenant 'a''s "
        "Gateway selector {istio: gw-a}; use labels unique to the tenant",
    ),
    case(
        "labels-identical",
        """
        tenants:
          - name: a
            gateway:
              labels: {istio: gw-shared}
          - name: b
            gateway:
              labels: {istio: gw-shared}
        """,
        "{file}:7: tenants[b].gateway.labels: labels {istio: gw-shared} are the same as tenant 'a''s; "
        "gateway labels must be unique",
    ),
    case(
        "label-in-reserved-domain",
        """
        tenants:
          - name: a
            gateway:
              labels: {app.kubernetes.io/name: shop}
        """,
        "{file}:4: tenants[a].gateway.labels: label key 'app.kubernetes.io/name' is in the kubernetes.io domain, "
        "whose labels Istio, Helm or Kubernetes put on every gateway pod; use labels unique to the tenant",
    ),
    # --- Servers ----------------------------------------------------------------------------
    case(
        "port-out-of-range",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 70000, protocol: HTTP}
        """,
        "{file}:5: tenants[a].gateway.servers[0].port: 70000 is not a port (1-65535)",
    ),
    case(
        "port-as-string",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: "80"}
        """,
        "{file}:5: tenants[a].gateway.servers[0].port: '80' is not a port (1-65535)",
    ),
    case(
        "duplicate-port",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, protocol: HTTP, hosts: [a.example.com]}
                - {port: 80, protocol: HTTP, hosts: [b.example.com], name: http-b}
        """,
        "{file}:6: tenants[a].gateway.servers[1].port: port 80 is used by another server of this gateway",
    ),
    case(
        "protocol-unknown",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, protocol: http}
        """,
        "{file}:5: tenants[a].gateway.servers[0].protocol: 'http' is not allowed; use one of HTTP, HTTPS, HTTP2, "
        "GRPC, TCP, TLS (did you mean 'HTTP'?)",
    ),
    case(
        "https-without-tls",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 443, protocol: HTTPS, hosts: [a.example.com]}
        """,
        "{file}:5: tenants[a].gateway.servers[0]: a HTTPS server needs a tls block with a mode "
        "(SIMPLE, MUTUAL, PASSTHROUGH, ...)",
    ),
    case(
        "simple-without-credential",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - port: 443
                  protocol: HTTPS
                  hosts: [a.example.com]
                  tls: {mode: SIMPLE}
        """,
        "{file}:8: tenants[a].gateway.servers[0].tls: tls mode SIMPLE needs a credentialName: the Secret in "
        "namespace 'a' that holds the certificate",
    ),
    case(
        "passthrough-with-credential",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - port: 443
                  protocol: TLS
                  hosts: [a.example.com]
                  tls: {mode: PASSTHROUGH, credentialName: a-tls}
        """,
        "{file}:8: tenants[a].gateway.servers[0].tls: tls mode PASSTHROUGH terminates no TLS: "
        "credentialName and issuer are not allowed",
    ),
    case(
        "tls-on-http-server",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - port: 80
                  tls: {mode: SIMPLE, credentialName: a-tls}
        """,
        "{file}:6: tenants[a].gateway.servers[0].tls: tls is only for HTTPS and TLS servers, not HTTP",
    ),
    # --- Hosts ------------------------------------------------------------------------------
    case(
        "host-with-scheme",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, hosts: ["https://a.example.com"]}
        """,
        "{file}:5: tenants[a].gateway.servers[0].hosts[0]: 'https://a.example.com' has a scheme: a host is a name "
        "only, without 'http://' or 'https://'",
    ),
    case(
        "host-with-path",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, hosts: [a.example.com/shop]}
        """,
        "{file}:5: tenants[a].gateway.servers[0].hosts[0]: 'a.example.com/shop' has a path: a host is a name only; "
        "paths belong to route matches",
    ),
    case(
        "host-with-port",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, hosts: ["a.example.com:8080"]}
        """,
        "{file}:5: tenants[a].gateway.servers[0].hosts[0]: 'a.example.com:8080' has a port: a host is a name only; "
        "the port is the server's `port`",
    ),
    case(
        "host-claimed-twice",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, hosts: [shop.example.com]}
          - name: b
            gateway:
              servers:
                - {port: 80, hosts: [shop.example.com]}
        """,
        "{file}:9: tenants[b].gateway.servers[0].hosts[0]: host 'shop.example.com' is claimed by tenants 'a' and 'b'; "
        "an explicit host belongs to one tenant",
    ),
    # --- Routes -----------------------------------------------------------------------------
    case(
        "route-host-not-served",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, hosts: [a.example.com]}
            routes:
              - name: web
                hosts: [b.example.com]
                http: [{to: {service: web, port: 8080}}]
        """,
        "{file}:8: tenants[a].routes[0].hosts[0]: host 'b.example.com' is not served by the tenant's gateway "
        "(it serves a.example.com)",
    ),
    case(
        "route-port-out-of-range",
        """
        tenants:
          - name: a
            routes:
              - name: web
                http: [{to: {service: web, port: 0}}]
        """,
        "{file}:5: tenants[a].routes[0].http[0].to.port: 0 is not a port (1-65535)",
    ),
    case(
        "route-service-invalid",
        """
        tenants:
          - name: a
            routes:
              - name: web
                http: [{to: {service: 9web, port: 80}}]
        """,
        f"{{file}}:5: tenants[a].routes[0].http[0].to.service: '9web' is not a Service name ({SERVICE_NAME})",
    ),
    # --- Sharing between tenants ------------------------------------------------------------
    case(
        "import-without-export",
        """
        tenants:
          - name: a
          - name: b
            imports: [{tenant: a, service: api}]
        """,
        "{file}:4: tenants[b].imports[0]: tenant 'b' imports service 'api' from tenant 'a', "
        "but 'a' does not export it to 'b'",
    ),
    # --- Several mistakes at once -----------------------------------------------------------
    case(
        "all-errors-in-one-go",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 70000}
            exports: [{service: api, to: [b]}]
          - name: b
            imports: [{tenant: a, service: api}, {tenant: c, service: api}]
            namespace: kube-system
          - name: c
        """,
        # Tenant a fails the model: b's import from a is not judged (a's exports are unknown), but
        # b's other mistakes are reported with a's.
        "{file}:5: tenants[a].gateway.servers[0].port: 70000 is not a port (1-65535)",
        "{file}:8: tenants[b].imports[1]: tenant 'b' imports service 'api' from tenant 'c', "
        "but 'c' does not export it to 'b'",
        "{file}:9: tenants[b].namespace: namespace 'kube-system' is a system namespace; "
        "a tenant needs a namespace of its own",
    ),
]

CASES_BY_ID = {c.id: c for c in CASES}
assert len(CASES_BY_ID) == len(CASES), "case ids must be unique"


def _expected(c: Case, path: Path) -> list[str]:
    return [line.replace("{file}", str(path)) for line in c.expected]


@pytest.fixture(scope="module")
def case_files(tmp_path_factory) -> dict[str, Path]:
    """Every case's file, by case id; resolved, as the CLI shows a path outside the project."""
    root = tmp_path_factory.mktemp("tenants-errors").resolve()
    paths = {}
    for c in CASES:
        path = root / f"{c.id}.yaml"
        if isinstance(c.text, bytes):
            path.write_bytes(c.text)
        elif c.text is not None:
            path.write_text(c.text, encoding="utf-8")
        paths[c.id] = path
    return paths


@dataclass(frozen=True)
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    out_dir: Optional[Path]


def _cli(args: list[str], out_dir: Optional[Path] = None) -> CliRun:
    result = subprocess.run(
        [sys.executable, "-m", "render", *args],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
    )
    return CliRun(result.returncode, result.stdout, result.stderr, out_dir)


@pytest.fixture(scope="module")
def cli_runs(case_files, tmp_path_factory) -> dict[tuple[str, str], CliRun]:
    """Both commands for every case, run once and side by side: each is a process of its own."""
    outs = tmp_path_factory.mktemp("render-out")
    jobs = {}
    with ThreadPoolExecutor(max_workers=max(4, 2 * (os.cpu_count() or 2))) as pool:
        for case_id, path in case_files.items():
            jobs[case_id, "validate"] = pool.submit(_cli, ["validate", "--tenants", str(path)])
            out = outs / case_id
            jobs[case_id, "render"] = pool.submit(_cli, ["dev", "--tenants", str(path), "--out", str(out)], out)
        return {key: job.result() for key, job in jobs.items()}


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_loader_reports_exactly_these_lines(c: Case, case_files):
    path = case_files[c.id]
    with pytest.raises(ConfigError) as caught:
        load_tenants(path)
    assert str(caught.value).splitlines() == _expected(c, path)


@pytest.mark.parametrize("command", ["validate", "render"])
@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_cli_exits_2_with_the_lines_and_writes_nothing(c: Case, command: str, case_files, cli_runs):
    run = cli_runs[c.id, command]
    assert (run.returncode, run.stdout) == (2, ""), run.stderr
    assert run.stderr.splitlines() == _expected(c, case_files[c.id])
    if run.out_dir is not None:
        assert not run.out_dir.exists()


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_program_raises_run_error_and_registers_nothing(c: Case, case_files):
    path = case_files[c.id]
    with pytest.raises(pulumi.RunError) as caught:
        run_program("dev", str(path))
    assert str(caught.value).splitlines() == _expected(c, path)
    assert [r.type for r in caught.value.registrations] == [PROGRAM_STACK]
