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
TENANT_KEYS = (
    "admins, adopt, decommission, egress, exports, gateway, imports, mesh, name, namespace, podSecurity, previousNames, "
    "quota, removal, revision, routes"
)
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
        "{file}:1: tenant: unknown field 'tenant' (did you mean 'tenants'?); allowed: cluster, controlPlane, meshes, observability, "
        "platformIdentities, removal, tenants",
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
        # Only the name: the namespace, gateway name and labels derived from it follow from it. Both
        # are tenants[a]: the line says which one is first.
        "{file}:3: tenants[a].name: tenant name 'a' is already used by tenant 'a' (tenants[a].name, line 2); each tenant needs its own",
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
        "{file}:5: tenants[a].gateway.servers[0].port: '80' is a string; expected a whole number from 1 to 65535: "
        "write it without quotes",
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
            routes:
              - {name: db, tls: {to: {service: db, port: 443}}}
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
    case(
        "port-taken-by-istio",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 15021}
        """,
        "{file}:5: tenants[a].gateway.servers[0].port: port 15021 is taken by Istio's proxy in the gateway pods "
        "(health checks); choose another",
    ),
    # --- The gateway's Service --------------------------------------------------------------
    case(
        "service-type-unknown",
        """
        tenants:
          - name: a
            gateway:
              service: {type: Internal}
        """,
        "{file}:4: tenants[a].gateway.service.type: 'Internal' is not allowed; use one of LoadBalancer, NodePort, ClusterIP",
    ),
    case(
        "load-balancer-annotation-without-load-balancer",
        """
        tenants:
          - name: a
            gateway:
              service:
                type: ClusterIP
                annotations: {service.beta.kubernetes.io/aws-load-balancer-internal: "true"}
        """,
        "{file}:6: tenants[a].gateway.service.annotations: annotation "
        "'service.beta.kubernetes.io/aws-load-balancer-internal' configures a load balancer, and a ClusterIP "
        "Service gets none; set type LoadBalancer or remove it",
    ),
    case(
        "annotation-value-not-a-string",
        """
        tenants:
          - name: a
            gateway:
              service:
                annotations: {networking.gke.io/load-balancer-type: Internal, example.com/weight: 3}
        """,
        "{file}:5: tenants[a].gateway.service.annotations: annotation 'example.com/weight': value 3 is not a string "
        "(quote it)",
    ),
    # --- Servers and the routes that use them -----------------------------------------------
    case(
        "tcp-server-without-route",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80}
                - {port: 5432, protocol: TCP}
        """,
        "{file}:6: tenants[a].gateway.servers[1]: no route uses port 5432 (a TCP server); add a route with "
        "`tcp: {port: 5432, to: ...}` or remove the server",
    ),
    case(
        "passthrough-server-without-route",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 443, protocol: TLS, hosts: [db.a.example.com], tls: {mode: PASSTHROUGH}}
        """,
        "{file}:5: tenants[a].gateway.servers[0]: no route uses port 443 (a TLS server that passes TLS through); "
        "add a route with `tls: {port: 443, to: ...}` or remove the server",
    ),
    case(
        "tcp-route-on-http-server",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80}
                - {port: 5432, protocol: TCP}
            routes:
              - {name: db, tcp: {port: 5432, to: {service: db, port: 5432}}}
              - {name: web, tcp: {port: 80, to: {service: web, port: 8080}}}
        """,
        "{file}:9: tenants[a].routes[1].tcp.port: port 80 is a HTTP server; a tcp route needs a TCP server or a TLS "
        "server that terminates TLS",
    ),
    case(
        "tls-route-on-terminating-server",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a-tls}}
            routes:
              - {name: web, tls: {port: 443, to: {service: web, port: 8443}}}
        """,
        "{file}:7: tenants[a].routes[0].tls.port: port 443 is a HTTPS server that terminates TLS; a tls route needs a "
        "TLS-passthrough server (TLS or HTTPS with tls mode PASSTHROUGH)",
    ),
    case(
        "route-port-without-server",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80}
                - {port: 5432, protocol: TCP}
            routes:
              - {name: db, tcp: {port: 5433, to: {service: db, port: 5432}}}
              - {name: pg, tcp: {port: 5432, to: {service: db, port: 5432}}}
        """,
        "{file}:8: tenants[a].routes[0].tcp.port: no server of the tenant's gateway listens on port 5433 "
        "(it listens on 80, 5432)",
    ),
    case(
        "route-of-two-kinds",
        """
        tenants:
          - name: a
            routes:
              - name: web
                http: [{to: {service: web, port: 80}}]
                tcp: {to: {service: web, port: 80}}
        """,
        "{file}:4: tenants[a].routes[0]: a route needs exactly one of http, tcp or tls",
    ),
    case(
        "tcp-route-with-hosts",
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 5432, protocol: TCP}]
            routes:
              - {name: db, hosts: [db.example.com], tcp: {to: {service: db, port: 5432}}}
        """,
        "{file}:6: tenants[a].routes[0].hosts: a tcp route takes every connection of its server: TCP has no host "
        "names; remove hosts",
    ),
    case(
        "two-tcp-routes-on-one-server",
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 5432, protocol: TCP}]
            routes:
              - {name: primary, tcp: {to: {service: db, port: 5432}}}
              - {name: replica, tcp: {port: 5432, to: {service: db-ro, port: 5432}}}
        """,
        "{file}:7: tenants[a].routes[1]: port 5432 is already routed by route 'primary'; one tcp route per server",
    ),
    # --- Gateway API tenants ----------------------------------------------------------------
    case(
        "gateway-api-istio-only-protocol",
        """
        tenants:
          - name: a
            gateway:
              api: gateway-api
              servers: [{port: 80, protocol: GRPC}]
        """,
        "{file}:5: tenants[a].gateway.servers[0].protocol: protocol GRPC exists only on the Istio Gateway; a Gateway "
        "API listener is HTTP, HTTPS, TLS or TCP (HTTP carries HTTP/2 and gRPC too)",
    ),
    case(
        "gateway-api-istio-only-tls-mode",
        """
        tenants:
          - name: a
            gateway:
              api: gateway-api
              servers:
                - port: 443
                  protocol: HTTPS
                  hosts: [a.example.com]
                  tls: {mode: OPTIONAL_MUTUAL, credentialName: a-tls}
        """,
        "{file}:9: tenants[a].gateway.servers[0].tls.mode: tls mode OPTIONAL_MUTUAL exists only on the Istio Gateway; "
        "a Gateway API listener terminates TLS (SIMPLE, MUTUAL) or passes it through (PASSTHROUGH)",
    ),
    case(
        "gateway-api-namespaced-host",
        """
        tenants:
          - name: a
            gateway:
              api: gateway-api
              servers: [{port: 80, hosts: [./a.example.com]}]
        """,
        "{file}:5: tenants[a].gateway.servers[0].hosts[0]: host './a.example.com' names a namespace, which only the "
        "Istio Gateway does; a Gateway API listener takes routes of its own namespace only: write 'a.example.com'",
    ),
    case(
        "gateway-api-tls-route-without-host",
        """
        tenants:
          - name: a
            gateway:
              api: gateway-api
              servers: [{port: 443, protocol: TLS, tls: {mode: PASSTHROUGH}}]
            routes:
              - {name: db, tls: {to: {service: db, port: 5432}}}
        """,
        "{file}:7: tenants[a].routes[0].hosts: a TLSRoute chooses connections by SNI host name and '*' names none; "
        "list the hosts (TLSRoute.spec.hostnames)",
    ),
    case(
        "gateway-api-path",
        """
        tenants:
          - name: a
            gateway: {api: gateway-api}
            routes:
              - name: web
                http: [{match: [{prefix: /static//img}], to: {service: web, port: 80}}]
        """,
        "{file}:6: tenants[a].routes[0].http[0].match[0].prefix: '/static//img' is not a Gateway API path: "
        "it contains '//'",
    ),
    case(
        "gateway-api-too-many-labels",
        """
        tenants:
          - name: a
            gateway:
              api: gateway-api
              labels: {l1: a, l2: a, l3: a, l4: a, l5: a, l6: a, l7: a, l8: a, l9: a}
        """,
        "{file}:5: tenants[a].gateway.labels: a Gateway API gateway takes at most 8 labels "
        "(spec.infrastructure.labels); these are 9",
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
        # Once, though b serves it on two ports, and naming where a claims it.
        "host-claimed-twice",
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, hosts: [www.example.com, shop.example.com]}
          - name: b
            gateway:
              servers:
                - {port: 80, hosts: [shop.example.com]}
                - {port: 443, protocol: HTTPS, hosts: [shop.example.com], tls: {mode: SIMPLE, credentialName: shop}}
        """,
        "{file}:9: tenants[b].gateway.servers[0].hosts[0]: host 'shop.example.com' is already claimed by tenant 'a' "
        "(tenants[a].gateway.servers[0].hosts[1], line 5); an explicit host belongs to one tenant",
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
    # --- Several meshes -----------------------------------------------------------------------
    case(
        "mesh-unknown",
        """
        meshes:
          - name: team-a
          - name: team-b
        tenants:
          - name: a
            mesh: team-c
        """,
        "{file}:6: tenants[a].mesh: no mesh named 'team-c'; the meshes are team-a, team-b",
    ),
    case(
        "mesh-without-meshes",
        """
        tenants:
          - name: a
            mesh: team-a
            revision: stable
        """,
        "{file}:3: tenants[a].mesh: no mesh named 'team-a': the file declares no meshes (list them under `meshes:`)",
        "{file}:4: tenants[a].revision: revisions belong to meshes, and the file declares none: the platform control "
        "plane runs without revisions (list meshes under `meshes:`)",
    ),
    case(
        "mesh-tag-unknown",
        """
        meshes:
          - name: shop
            revisions: [{name: 1-29-6}, {name: 1-30-3}]
            tags: {stable: 1-29-6, canary: 1-30-3}
            defaultRevision: stable
        tenants:
          - name: a
            revision: canry
        """,
        "{file}:8: tenants[a].revision: 'canry' is not a tag or revision of mesh 'shop' (revisions: 1-29-6, 1-30-3; "
        "tags: canary, stable); if it was removed: it is still in use by tenant a (keep it listed until nothing uses it)",
    ),
    case(
        "mesh-namespace-shared",
        """
        meshes:
          - name: team-a
            namespace: mesh-system
          - name: team-b
            namespace: mesh-system
        """,
        "{file}:5: meshes[team-b].namespace: namespace 'mesh-system' is also mesh 'team-a''s namespace; "
        "each mesh needs a namespace of its own",
    ),
    case(
        "mesh-revision-shared",
        """
        meshes:
          - name: team-a
            revisions: [{name: 1-30-3}]
          - name: team-b
            revisions: [{name: 1-30-3}]
        """,
        "{file}:5: meshes[team-b].revisions[1-30-3].name: revision '1-30-3' is already a revision of mesh 'team-a'; "
        "revision and tag names are cluster-wide (every control plane reads the istio.io/rev label), so each is used once",
    ),
    case(
        "mesh-tag-is-a-revision-elsewhere",
        """
        meshes:
          - name: team-a
          - name: team-b
            revisions: [{name: b-1-30-3}]
            tags: {team-a: b-1-30-3, default: b-1-30-3}
        """,
        "{file}:5: meshes[team-b].tags.team-a: tag 'team-a' is already a revision of mesh 'team-a'; "
        "revision and tag names are cluster-wide (every control plane reads the istio.io/rev label), so each is used once",
        "{file}:5: meshes[team-b].tags.default: 'default' is Istio's cluster-wide default tag (it takes every namespace "
        "labelled istio-injection=enabled); name the tag after its purpose, e.g. stable, and set defaultRevision",
    ),
    case(
        "mesh-default-revision-not-first",
        """
        meshes:
          - name: platform
            namespace: istio-system
            revisions: [{name: default}]
          - name: team-b
            revisions: [{name: default}, {name: b-1-30-3}]
            defaultRevision: b-1-30-3
        """,
        "{file}:6: meshes[team-b].revisions[default].name: 'default' is Istio's control plane without a revision, "
        "which only the first mesh (the platform mesh) may run: it keeps the istiod of a stack without meshes; "
        "name this revision after its version, e.g. 1-30-5",
    ),
    case(
        "mesh-previous-names",
        """
        meshes:
          - name: platform
            previousNames: [platform-istiocontrolplane, team-b]
          - name: team-b
            previousNames: [platform-istiocontrolplane]
        """,
        "{file}:3: meshes[platform].previousNames[1]: previous name 'team-b' is the name of a current mesh",
        "{file}:5: meshes[team-b].previousNames[0]: previous name 'platform-istiocontrolplane' is also claimed by mesh 'platform'",
    ),
    case(
        "mesh-discovery-overlap",
        """
        meshes:
          - name: team-a
          - name: team-b
        tenants:
          - name: a
            namespace: team-b
        """,
        "{file}:6: tenants[a].namespace: namespace 'team-b' is the control-plane namespace of mesh 'team-b': the "
        "discovery selectors of meshes 'team-a' and 'team-b' would both select it; a tenant needs a namespace of its own",
    ),
    case(
        "mesh-tenant-in-mesh-namespace",
        """
        meshes:
          - name: team-a
        tenants:
          - name: team-a
        """,
        "{file}:4: tenants[team-a].name: namespace 'team-a' is the control-plane namespace of mesh 'team-a'; "
        "a tenant needs a namespace of its own",
    ),
    case(
        "mesh-tag-to-unknown-revision",
        """
        meshes:
          - name: shop
            revisions: [{name: 1-30-3}]
            tags: {canary: 1-31-1}
        tenants:
          - name: a
        """,
        "{file}:4: meshes[shop].tags.canary: tag 'canary' points at revision '1-31-1', which is not a revision of mesh "
        "'shop' (revisions: 1-30-3); if it was removed: it is still in use by tag canary (keep it listed until nothing uses it)",
    ),
    case(
        "mesh-revision-removed-in-use",
        # 1-29-6 was removed from the list while the stable tag and tenants still use it.
        """
        meshes:
          - name: shop
            revisions: [{name: 1-30-3}]
            tags: {stable: 1-29-6, canary: 1-30-3}
            defaultRevision: stable
        tenants:
          - name: cart
          - name: search
            revision: 1-29-6
          - name: checkout
            revision: canary
        """,
        "{file}:4: meshes[shop].tags.stable: tag 'stable' points at revision '1-29-6', which is not a revision of mesh "
        "'shop' (revisions: 1-30-3); if it was removed: it is still in use by tag stable and tenants cart, search "
        "(keep it listed until nothing uses it)",
        "{file}:9: tenants[search].revision: '1-29-6' is not a tag or revision of mesh 'shop' (revisions: 1-30-3; "
        "tags: canary, stable); if it was removed: it is still in use by tag stable and tenants cart, search "
        "(keep it listed until nothing uses it)",
    ),
    case(
        "mesh-several-revisions-no-default",
        """
        meshes:
          - name: shop
            revisions: [{name: 1-29-6}, {name: 1-30-3}]
        tenants:
          - name: cart
          - name: search
            revision: 1-30-3
        """,
        "{file}:3: meshes[shop].revisions: mesh 'shop' lists several revisions: set defaultRevision (a tag or "
        "revision) for its tenants that name none (cart), or give each a revision",
    ),
    case(
        "mesh-and-control-plane",
        """
        controlPlane:
          namespace: istio-system
        meshes:
          - name: team-a
        """,
        "{file}:1: controlPlane: controlPlane and meshes cannot both be given: with meshes, the first mesh is the "
        "platform mesh (its namespace serves the observability add-ons); move these settings to it, with "
        "revisions: [{name: default}] to keep its istiod (docs/upgrades.md)",
    ),
    case(
        "mesh-settings-invalid",
        """
        meshes:
          - name: team-a
            meshConfig:
              accessLogFile: stdout
              outboundTrafficPolicy: {mode: DENY}
        """,
        "{file}:4: meshes[team-a].meshConfig.accessLogFile: 'stdout' is not a file path: use '' (no access log) or "
        "a path such as /dev/stdout",
        "{file}:5: meshes[team-a].meshConfig.outboundTrafficPolicy.mode: 'DENY' is not allowed; use one of ALLOW_ANY, "
        "REGISTRY_ONLY",
    ),
    case(
        "mesh-placement-invalid",
        """
        meshes:
          - name: team-a
            namespace: kube-mesh
          - name: team-b
            replicas: {ingressGateway: 2}
        """,
        "{file}:3: meshes[team-a].namespace: namespace 'kube-mesh' is a system namespace; a mesh needs a namespace of its own",
        "{file}:5: meshes[team-b].replicas.ingressGateway: only the first mesh runs an ingress gateway (it serves the "
        "observability add-ons); tenants have gateways of their own",
    ),
    case(
        "mesh-sharing-across-meshes",
        """
        meshes:
          - name: team-a
          - name: team-b
        tenants:
          - name: a
            exports: [{service: api, to: [b]}]
          - name: b
            mesh: team-b
            imports: [{tenant: a, service: api}]
        """,
        "{file}:6: tenants[a].exports[0].to[0]: tenant 'b' is in mesh 'team-b' and 'a' in mesh 'team-a': proxies of "
        "different meshes do not trust each other's certificates, so no call can cross meshes",
        "{file}:9: tenants[b].imports[0].tenant: tenant 'a' is in mesh 'team-a' and 'b' in mesh 'team-b': proxies of "
        "different meshes do not trust each other's certificates, so no call can cross meshes",
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
    # --- Every mistake in one run -------------------------------------------------------------
    case(
        # A misspelt key and a quoted number in one tenant hide neither that tenant's other
        # mistakes nor the rules across tenants.
        "five-mistakes-at-once",
        """
        tenants:
          - name: shop
            namespace: istio-system
            gateway:
              servers:
                - port: 80
                  hsots: [shop.example.com]
                - port: "9000"
                  hosts: [api.example.com]
          - name: blog
            gateway:
              servers:
                - {port: 80, hosts: [api.example.com, blog.example.com]}
          - name: news
            imports: [{tenant: shop, service: search}]
        """,
        "{file}:3: tenants[shop].namespace: namespace 'istio-system' is the control-plane namespace; "
        "a tenant needs a namespace of its own",
        "{file}:7: tenants[shop].gateway.servers[0].hsots: unknown field 'hsots' (did you mean 'hosts'?); "
        "allowed: hosts, name, port, protocol, tls",
        "{file}:8: tenants[shop].gateway.servers[1].port: '9000' is a string; expected a whole number from 1 to 65535: "
        "write it without quotes",
        "{file}:13: tenants[blog].gateway.servers[0].hosts[0]: host 'api.example.com' is already claimed by tenant "
        "'shop' (tenants[shop].gateway.servers[1].hosts[0], line 9); an explicit host belongs to one tenant",
        "{file}:15: tenants[news].imports[0]: tenant 'news' imports service 'search' from tenant 'shop', "
        "but 'shop' does not export it to 'news'",
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
