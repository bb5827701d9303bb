"""The tenants file's rules in the loader alone: what must load, and the rest of the mistakes.

`test_tenants_errors.py` runs its table through every entry point; these cases need only the
loader (the entry points share it). `VALID_FILES` is shared with the schema tests: the editor's
schema must accept every one of them too.
"""

from __future__ import annotations

import textwrap

import pytest

from tenants import ConfigError, parse_tenants
from tenants.loader import MAX_NODES
from tests.test_meshes import CANARY_FILE, GUIDE_FILE

FILE = "tenants.yaml"


def _text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_tenants(_text(text), FILE)
    return str(caught.value).splitlines()


VALID_FILES = {
    "no-tenants": "controlPlane: {namespace: istio-system}\n",
    "empty-tenant-list": "tenants: []\n",
    "defaults-only": """
        tenants:
          - name: a
          - name: b
        """,
    "tls-modes": """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a-tls, issuer: letsencrypt}}
                - {port: 8443, protocol: TLS, hosts: [db.a.example.com], tls: {mode: PASSTHROUGH}}
                - {port: 9443, protocol: HTTPS, hosts: [mesh.a.example.com], tls: {mode: ISTIO_MUTUAL}}
                - {port: 10443, protocol: HTTPS, hosts: [m.a.example.com], tls: {mode: MUTUAL, credentialName: a-mtls}}
            routes:
              - name: web
                hosts: [a.example.com]
                http: [{to: {service: web, port: 8080}}]
              - name: db
                tls: {port: 8443, to: {service: db, port: 5432}}
        """,
    "tcp-and-tls-routes": """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 80, hosts: [a.example.com]}
                - {port: 5432, protocol: TCP}
                - {port: 6379, protocol: TLS, hosts: [cache.a.example.com], tls: {mode: SIMPLE, credentialName: cache-tls}}
                - {port: 443, protocol: HTTPS, hosts: [db.a.example.com, "*.tls.a.example.com"], tls: {mode: PASSTHROUGH}}
                - {port: 8443, protocol: TLS, hosts: [db.a.example.com], tls: {mode: PASSTHROUGH}}
            routes:
              - name: postgres
                tcp: {port: 5432, to: {service: postgres, port: 5432}}
              - name: cache
                tcp: {port: 6379, to: {service: redis, port: 6379}}
              - name: db
                hosts: [db.a.example.com]
                tls: {to: {service: db, port: 5432}}
              - name: shard
                hosts: [one.tls.a.example.com]
                tls: {port: 443, to: {service: shard-one, port: 8443}}
        """,
    "service-settings": """
        tenants:
          - name: a
            gateway:
              service:
                type: LoadBalancer
                annotations: {service.beta.kubernetes.io/aws-load-balancer-scheme: internal, example.com/owner: team-a}
          - name: b
            gateway:
              service: {type: NodePort, annotations: {external-dns.alpha.kubernetes.io/hostname: b.example.com}}
          - name: c
            gateway: {service: {type: ClusterIP}}
        """,
    "gateway-api-tenant": """
        tenants:
          - name: a
            gateway:
              api: gateway-api
              labels: {istio: gw-a, team: a}
              service: {type: ClusterIP}
              servers:
                - {port: 80, hosts: [a.example.com, "*.a.example.com"]}
                - {port: 443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: MUTUAL, credentialName: a-tls}}
                - {port: 5432, protocol: TCP}
                - {port: 8443, protocol: TLS, hosts: [db.a.example.com], tls: {mode: PASSTHROUGH}}
            routes:
              - name: web
                http:
                  - match: [{prefix: /api}, {exact: /healthz}, {regex: "/v[0-9]+/.*"}]
                    to: {service: api, port: 9090}
                  - to: {service: web, port: 8080}
              - name: postgres
                tcp: {to: {service: postgres, port: 5432}}
              - name: db
                tls: {port: 8443, to: {service: db, port: 5432}}
          - name: b
        """,
    "wildcards-and-namespaced-hosts": """
        tenants:
          - name: a
            namespace: team-a
            gateway:
              servers:
                - {port: 80, hosts: ["*.a.example.com", ./a.example.com, team-a/b.a.example.com]}
            routes:
              - name: api
                hosts: [api.a.example.com, "*.a.example.com", deep.api.a.example.com]
                http:
                  - match: [{prefix: /api}, {exact: /healthz}, {regex: "/v[0-9]+/.*"}]
                    to: {service: api, port: 9090}
              - name: web
                http: [{to: {service: web, port: 8080}}]
        """,
    "labels-sharing-a-pair": """
        tenants:
          - name: a
            gateway: {labels: {istio: gw-a, team: platform}}
          - name: b
            gateway: {labels: {istio: gw-b, team: platform}}
        """,
    "sharing-and-renames": """
        tenants:
          - name: a
            previousNames: [alpha]
            exports: [{service: api, to: [b, c]}]
          - name: b
            imports: [{tenant: a, service: api}]
          - name: c
        """,
    "quantities-and-admins": """
        tenants:
          - name: a
            quota: {cpu: 0.5, memory: 512Mi, pods: 10}
            admins: {users: [alice@example.com], groups: [team-a]}
            decommission: true
        """,
    "anchors-and-merge-keys": """
        tenants:
          - name: a
            gateway:
              servers:
                - &http {port: 80, protocol: HTTP, hosts: [a.example.com]}
          - name: b
            gateway:
              servers:
                - <<: *http
                  hosts: [b.example.com]
        """,
    "custom-control-plane": """
        controlPlane:
          name: mesh
          namespace: mesh-system
          profile: default
          replicas: {pilot: 2, ingressGateway: 2}
        observability:
          domain: obs.example.com
          credentialName: obs-tls
          oidc: {issuer: 'https://login.example.com', clientId: addons, clientSecret: addons-oidc, platformGroups: [platform-admins]}
          addons: {kiali: false, grafana: true, prometheus: true, tracing: false}
        tenants:
          - name: istio-system-tenant
            namespace: team-x
        """,
    "several-meshes": GUIDE_FILE,
    "canary-meshes": CANARY_FILE,
}


@pytest.mark.parametrize("name", VALID_FILES)
def test_valid_files_load(name):
    parse_tenants(_text(VALID_FILES[name]), FILE)


def test_route_hosts_default_to_the_served_names_without_namespace():
    config = parse_tenants(_text(VALID_FILES["wildcards-and-namespaced-hosts"]), FILE)
    tenant = config.tenants[0]
    # A VirtualService's hosts take no `namespace/` part: the gateway's hosts, as names.
    assert tenant.route_hosts(tenant.routes[1]) == ["*.a.example.com", "a.example.com", "b.a.example.com"]
    assert tenant.route_hosts(tenant.routes[0]) == ["api.a.example.com", "*.a.example.com", "deep.api.a.example.com"]


def test_merge_keys_override_without_a_duplicate_key_error():
    config = parse_tenants(_text(VALID_FILES["anchors-and-merge-keys"]), FILE)
    merged = config.tenants[1].gateway.servers[0]
    assert (merged.port, merged.hosts) == (80, ["b.example.com"])


def test_a_float_quantity_is_kept_as_kubernetes_writes_it():
    config = parse_tenants(_text(VALID_FILES["quantities-and-admins"]), FILE)
    assert config.tenants[0].quota.cpu == "0.5"


# Each: a file, and the exact lines (file "tenants.yaml").
MISTAKES = {
    "observability-host": (
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 80, hosts: [kiali.example.com]}]
        """,
        ["tenants.yaml:4: tenants[a].gateway.servers[0].hosts[0]: host 'kiali.example.com' is an observability host "
         "of the control-plane gateway"],
    ),
    "istio-mutual-with-credential": (
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 443, protocol: HTTPS, tls: {mode: ISTIO_MUTUAL, credentialName: a-tls}}
        """,
        ["tenants.yaml:5: tenants[a].gateway.servers[0].tls: tls mode ISTIO_MUTUAL uses the mesh's own "
         "certificates: credentialName and issuer are not allowed"],
    ),
    "tls-server-without-tls": (
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 443, protocol: TLS}]
        """,
        ["tenants.yaml:4: tenants[a].gateway.servers[0]: a TLS server needs a tls block with a mode "
         "(SIMPLE, MUTUAL, PASSTHROUGH, ...)"],
    ),
    "issuer-without-hosts": (
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 443, protocol: HTTPS, tls: {mode: SIMPLE, credentialName: a-tls, issuer: letsencrypt}}
        """,
        ["tenants.yaml:5: tenants[a].gateway.servers[0].tls.issuer: a certificate is issued for the server's hosts, "
         "and '*' names none; list the hosts it covers"],
    ),
    "one-secret-two-issuers": (
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a-tls, issuer: le}}
                - {port: 8443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a-tls, issuer: ca}}
        """,
        ["tenants.yaml:6: tenants[a].gateway.servers[1].tls.issuer: Secret 'a-tls' is issued by 'le' on another "
         "server; one Secret, one issuer"],
    ),
    "host-of-another-namespace": (
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 80, hosts: [team-b/a.example.com]}]
        """,
        ["tenants.yaml:4: tenants[a].gateway.servers[0].hosts[0]: host 'team-b/a.example.com' would bind routes "
         "from namespace 'team-b'; a tenant's gateway serves only its own namespace ('./host' or 'a/host')"],
    ),
    "host-upper-case": (
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 80, hosts: [Shop.example.com]}]
        """,
        ["tenants.yaml:4: tenants[a].gateway.servers[0].hosts[0]: 'Shop.example.com' is not an Istio host: use '*', "
         "'*.example.com' or 'example.com' (lower case letters, digits, '-' and '.'), optionally 'namespace/host'"],
    ),
    "route-host-with-namespace": (
        """
        tenants:
          - name: a
            routes:
              - {name: web, hosts: [./a.example.com], http: [{to: {service: web, port: 80}}]}
        """,
        ["tenants.yaml:4: tenants[a].routes[0].hosts[0]: './a.example.com' has a namespace: a route host is a name "
         "only; use '*', '*.example.com' or 'example.com' (lower case letters, digits, '-' and '.')"],
    ),
    "route-host-on-tcp-only": (
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 5432, protocol: TCP, hosts: [db.example.com]}]
            routes:
              - {name: db, hosts: [db.example.com], http: [{to: {service: db, port: 5432}}]}
              - {name: pg, tcp: {to: {service: db, port: 5432}}}
        """,
        ["tenants.yaml:6: tenants[a].routes[0].hosts[0]: host 'db.example.com' is served only by TCP, TLS or "
         "TLS-passthrough servers, which carry no HTTP routes; serve it over HTTP, HTTPS, HTTP2 or GRPC"],
    ),
    "route-without-http-server": (
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 443, protocol: TLS, tls: {mode: PASSTHROUGH}}]
            routes:
              - {name: web, http: [{to: {service: web, port: 80}}]}
              - {name: db, tls: {to: {service: db, port: 443}}}
        """,
        ["tenants.yaml:6: tenants[a].routes[0]: the tenant's gateway has no HTTP, HTTPS, HTTP2 or GRPC server "
         "to carry this route"],
    ),
    "route-wildcard-not-covered": (
        """
        tenants:
          - name: a
            gateway:
              servers: [{port: 80, hosts: ["*.a.example.com", ./b.example.com]}]
            routes:
              - {name: web, hosts: ["*"], http: [{to: {service: web, port: 80}}]}
        """,
        ["tenants.yaml:6: tenants[a].routes[0].hosts[0]: host '*' is not served by the tenant's gateway "
         "(it serves *.a.example.com, b.example.com)"],
    ),
    "route-name-twice": (
        """
        tenants:
          - name: a
            routes:
              - {name: web, http: [{to: {service: web, port: 80}}]}
              - {name: web, http: [{to: {service: api, port: 80}}]}
        """,
        ["tenants.yaml:5: tenants[a].routes[1].name: route name 'web' is used twice in this tenant"],
    ),
    "match-two-kinds": (
        """
        tenants:
          - name: a
            routes:
              - name: web
                http: [{match: [{exact: /a, prefix: /b}], to: {service: web, port: 80}}]
        """,
        ["tenants.yaml:5: tenants[a].routes[0].http[0].match[0]: a match needs exactly one of exact, prefix or regex"],
    ),
    "match-not-a-path": (
        """
        tenants:
          - name: a
            routes:
              - name: web
                http: [{match: [{prefix: api}], to: {service: web, port: 80}}]
        """,
        ["tenants.yaml:5: tenants[a].routes[0].http[0].match[0].prefix: 'api' is not a URI path: it must start with '/'"],
    ),
    "match-bad-regex": (
        """
        tenants:
          - name: a
            routes:
              - name: web
                http: [{match: [{regex: "/v(1"}], to: {service: web, port: 80}}]
        """,
        ["tenants.yaml:5: tenants[a].routes[0].http[0].match[0].regex: '/v(1' is not a valid regular expression "
         "(RE2 syntax)"],
    ),
    "route-without-rules": (
        """
        tenants:
          - name: a
            routes:
              - {name: web, http: []}
        """,
        ["tenants.yaml:4: tenants[a].routes[0].http: must list at least one entry"],
    ),
    "import-from-unknown-tenant": (
        """
        tenants:
          - name: a
            imports: [{tenant: ghost, service: api}]
        """,
        ["tenants.yaml:3: tenants[a].imports[0].tenant: no tenant named 'ghost' to import 'api' from"],
    ),
    "import-from-itself": (
        """
        tenants:
          - name: a
            imports: [{tenant: a, service: api}]
        """,
        ["tenants.yaml:3: tenants[a].imports[0].tenant: tenant 'a' cannot import from itself"],
    ),
    "export-to-unknown-and-self": (
        """
        tenants:
          - name: a
            exports: [{service: api, to: [a, ghost]}]
        """,
        ["tenants.yaml:3: tenants[a].exports[0].to[0]: tenant 'a' cannot export to itself",
         "tenants.yaml:3: tenants[a].exports[0].to[1]: no tenant named 'ghost' to export 'api' to"],
    ),
    "previous-names": (
        """
        tenants:
          - name: a
            previousNames: [b, old]
          - name: b
            previousNames: [old]
        """,
        ["tenants.yaml:3: tenants[a].previousNames[0]: previous name 'b' is the name of a current tenant",
         "tenants.yaml:5: tenants[b].previousNames[0]: previous name 'old' is also claimed by tenant 'a'"],
    ),
    "kube-prefixed-namespace": (
        """
        tenants:
          - name: a
            namespace: kube-mine
        """,
        ["tenants.yaml:3: tenants[a].namespace: namespace 'kube-mine' is reserved for Kubernetes (kube-*); "
         "a tenant needs a namespace of its own"],
    ),
    "istio-system-with-control-plane-elsewhere": (
        """
        controlPlane: {namespace: mesh-system}
        tenants:
          - name: istio-system
        """,
        ["tenants.yaml:3: tenants[istio-system].name: namespace 'istio-system' is a system namespace; "
         "a tenant needs a namespace of its own"],
    ),
    "gateway-named-as-control-plane": (
        """
        tenants:
          - name: a
            gateway: {name: platform-istiocontrolplane}
        """,
        ["tenants.yaml:3: tenants[a].gateway.name: gateway name 'platform-istiocontrolplane' is the control "
         "plane's IstioOperator name; choose another"],
    ),
    "default-labels-too-long": (
        f"""
        tenants:
          - name: {"t" * 43}
            gateway: {{name: gw}}
        """,
        [f"tenants.yaml:2: tenants[{'t' * 43}].name: the default gateway label 'istio-ingressgateway-{'t' * 43}' "
         "is longer than 63 characters; set gateway.labels"],
    ),
    "selector-selects-platform-pods": (
        """
        tenants:
          - name: a
            gateway: {labels: {app: istio-ingressgateway}}
        """,
        ["tenants.yaml:3: tenants[a].gateway.labels: labels {app: istio-ingressgateway} as the tenant's Gateway "
         "selector would select the control-plane gateway's pods {app: istio-ingressgateway, istio: ingressgateway}; "
         "use labels unique to the tenant"],
    ),
    "label-key-bad-prefix": (
        """
        tenants:
          - name: a
            gateway: {labels: {Example.com/team: a}}
        """,
        ["tenants.yaml:3: tenants[a].gateway.labels: label key 'Example.com/team' has an invalid prefix "
         "'Example.com' (a DNS-1123 subdomain: lower case letters, digits, '-' and '.')"],
    ),
    "label-value-too-long": (
        f"""
        tenants:
          - name: a
            gateway: {{labels: {{istio: {"v" * 64}}}}}
        """,
        [f"tenants.yaml:3: tenants[a].gateway.labels: label 'istio': '{'v' * 64}' is not a Kubernetes label value "
         "(at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"],
    ),
    "duplicate-names-with-own-namespaces": (
        """
        tenants:
          - {name: a, namespace: one, gateway: {name: gw-one}}
          - {name: a, namespace: one, gateway: {name: gw-two}}
        """,
        # The namespace is written out, so its repetition is a mistake of its own.
        ["tenants.yaml:3: tenants[a].name: tenant name 'a' is already used by tenant 'a' (tenants[a].name, line 2); each tenant needs its own",
         "tenants.yaml:3: tenants[a].namespace: namespace 'one' is already used by tenant 'a'; each tenant needs its own"],
    ),
    "profile-typo": (
        "controlPlane: {profile: defualt}\n",
        ["tenants.yaml:1: controlPlane.profile: 'defualt' is not allowed; use one of default, demo, minimal, stable, "
         "preview, ambient, openshift, openshift-ambient (did you mean 'default'?)"],
    ),
    "domain-with-scheme": (
        "observability: {domain: 'https://example.com'}\n",
        ["tenants.yaml:1: observability.domain: 'https://example.com' is not a DNS-1123 subdomain (lower case "
         "letters, digits, '-' and '.', at most 253 characters)"],
    ),
    "quota-not-a-quantity": (
        """
        tenants:
          - name: a
            quota: {cpu: lots, pods: 0}
        """,
        ["tenants.yaml:3: tenants[a].quota.cpu: 'lots' is not a Kubernetes quantity (for example 500m, 2, 4Gi)",
         "tenants.yaml:3: tenants[a].quota.pods: 0 is not a whole number of at least 1"],
    ),
    "section-left-empty": (
        "controlPlane:\ntenants: []\n",
        ["tenants.yaml:1: controlPlane: expected a mapping, got null"],
    ),
    "server-without-port": (
        """
        tenants:
          - name: a
            gateway:
              servers: [{protocol: HTTP}]
        """,
        ["tenants.yaml:4: tenants[a].gateway.servers[0].port: is required"],
    ),
    "key-not-a-string": (
        """
        tenants:
          - {name: a, 7: x}
        """,
        ["tenants.yaml:2: tenants[a][7]: key 7 is not a string; keys are field names"],
    ),
    "not-a-date": (
        "tenants: []\ncreated: 2024-02-30\n",
        ["tenants.yaml: not valid YAML: day is out of range for month"],
    ),
    "alias-inside-its-anchor": (
        "tenants: &loop [*loop]\n",
        ["tenants.yaml:1: an alias inside its own anchor: the data would never end"],
    ),
    "wildcard-covers-another-tenants-host": (
        """
        tenants:
          - name: a
            gateway: {servers: [{port: 80, hosts: [shop.example.org, api.shop.example.org]}]}
          - name: b
            gateway: {servers: [{port: 80, hosts: ["*.example.org"]}, {port: 81, hosts: ["*.example.org"]}]}
        """,
        # Once, naming both claims, though b lists the wildcard on two servers and a has two hosts under it.
        ["tenants.yaml:5: tenants[b].gateway.servers[0].hosts[0]: host '*.example.org' overlaps 'api.shop.example.org' "
         "(tenants[a].gateway.servers[0].hosts[1], line 3), 'shop.example.org' (tenants[a].gateway.servers[0].hosts[0], line 3) "
         "of tenant 'a'; a host and every name it covers belong to one tenant"],
    ),
    "host-under-another-tenants-wildcard": (
        """
        tenants:
          - name: a
            gateway: {servers: [{port: 80, hosts: ["*.shop.example.org"]}]}
          - name: b
            gateway: {servers: [{port: 80, hosts: [eu.shop.example.org, "*.eu.shop.example.org", blog.example.org]}]}
        """,
        # The wildcard's own place and line too: the file may be long.
        ["tenants.yaml:5: tenants[b].gateway.servers[0].hosts[0]: host 'eu.shop.example.org' overlaps '*.shop.example.org' "
         "(tenants[a].gateway.servers[0].hosts[0], line 3) of tenant 'a'; a host and every name it covers belong to one tenant",
         "tenants.yaml:5: tenants[b].gateway.servers[0].hosts[1]: host '*.eu.shop.example.org' overlaps '*.shop.example.org' "
         "(tenants[a].gateway.servers[0].hosts[0], line 3) of tenant 'a'; a host and every name it covers belong to one tenant"],
    ),
    "wildcard-covers-an-observability-host": (
        """
        observability: {domain: ops.example.com}
        tenants:
          - name: a
            gateway: {servers: [{port: 80, hosts: ["*.ops.example.com", "*.example.com"]}]}
        """,
        ["tenants.yaml:4: tenants[a].gateway.servers[0].hosts[0]: host '*.ops.example.com' covers the observability host "
         "'kiali.ops.example.com' of the control-plane gateway",
         "tenants.yaml:4: tenants[a].gateway.servers[0].hosts[1]: host '*.example.com' covers the observability host "
         "'kiali.ops.example.com' of the control-plane gateway"],
    ),
    "egress-to-the-metadata-service": (
        """
        tenants:
          - name: a
            egress:
              - {cidr: 169.254.169.254/32}
              - {cidr: 169.254.0.0/16, ports: [80]}
              - {cidr: 0.0.0.0/0, ports: [443]}
              - {cidr: "fd00:ec2::254/128"}
              - {cidr: 169.254.20.10/32, ports: [53]}
        """,
        ["tenants.yaml:4: tenants[a].egress[0].cidr: 169.254.169.254/32 contains the cloud metadata address 169.254.169.254, "
         "which no tenant may reach; allow a range that leaves it out (a wider range has it cut out)",
         "tenants.yaml:5: tenants[a].egress[1].cidr: 169.254.0.0/16 contains the cloud metadata address 169.254.169.254, "
         "which no tenant may reach; allow a range that leaves it out (a wider range has it cut out)",
         "tenants.yaml:7: tenants[a].egress[3].cidr: fd00:ec2::254/128 contains the cloud metadata address fd00:ec2::254, "
         "which no tenant may reach; allow a range that leaves it out (a wider range has it cut out)"],
    ),
    "egress-not-a-range": (
        """
        tenants:
          - name: a
            egress: [{cidr: 10.0.0.1/8}, {cidr: 10.0.0.1}]
        """,
        ["tenants.yaml:3: tenants[a].egress[0].cidr: '10.0.0.1/8' is not an IP range in CIDR notation with its host bits "
         "zero (for example 10.0.0.0/8)",
         "tenants.yaml:3: tenants[a].egress[1].cidr: '10.0.0.1' has no prefix length: write '10.0.0.1/32'"],
    ),
    "pod-security-below-baseline": (
        """
        tenants:
          - name: a
            podSecurity: privileged
        """,
        ["tenants.yaml:3: tenants[a].podSecurity: 'privileged' is not allowed; use one of restricted, baseline"],
    ),
    "container-memory-below-the-sidecars": (
        """
        tenants:
          - name: a
            quota: {containerMemory: 512Mi}
        """,
        ["tenants.yaml:3: tenants[a].quota.containerMemory: 512Mi is below the 1Gi memory limit of Istio's sidecar, which "
         "every pod runs; allow at least 1Gi"],
    ),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_mistakes_report_exactly_these_lines(name):
    text, expected = MISTAKES[name]
    assert errors_of(text) == expected


def test_a_broken_value_hides_no_other_mistake_and_causes_none():
    lines = errors_of(
        """
        tenants:
          - name: a
            gateway: {servers: [{port: 0, hosts: [a.example.com]}]}
          - name: b
            exports: [{service: api, to: [a]}]
            imports: [{tenant: a, service: db}]
            previousNames: [a]
            gateway: {labels: {istio: ingressgateway}, servers: [{port: 80, hosts: [a.example.com]}]}
        """
    )
    # a's port gets a stand-in for the rules: a is checked all the same, and b's references to a.
    assert lines == [
        "tenants.yaml:3: tenants[a].gateway.servers[0].port: 0 is not a port (1-65535)",
        "tenants.yaml:6: tenants[b].imports[0]: tenant 'b' imports service 'db' from tenant 'a', but 'a' does not export it to 'b'",
        "tenants.yaml:7: tenants[b].previousNames[0]: previous name 'a' is the name of a current tenant",
        "tenants.yaml:8: tenants[b].gateway.labels: labels {istio: ingressgateway} would be selected by the "
        "control-plane gateway's selector {istio: ingressgateway}; use labels unique to the tenant",
        "tenants.yaml:8: tenants[b].gateway.servers[0].hosts[0]: host 'a.example.com' is already claimed by tenant 'a' "
        "(tenants[a].gateway.servers[0].hosts[0], line 3); an explicit host belongs to one tenant",
    ]


REPAIRS = {
    # What a broken value of a tenant would make the rules say, if its stand-in were taken for the
    # user's value, is not said; everything else is.
    "broken-namespace-clashes-with-nothing": (
        """
        tenants:
          - name: a
            namespace: Team-A
            gateway: {servers: [{port: 80, hosts: [team-a/a.example.com]}]}
          - name: team-a
          - name: c
            namespace: kube-c
        """,
        ["tenants.yaml:3: tenants[a].namespace: 'Team-A' is not a DNS-1123 label (lower case letters, digits and '-', "
         "starting and ending with a letter or digit, at most 63 characters)",
         "tenants.yaml:7: tenants[c].namespace: namespace 'kube-c' is reserved for Kubernetes (kube-*); "
         "a tenant needs a namespace of its own"],
    ),
    "broken-gateway-name-and-labels": (
        """
        tenants:
          - name: a
            gateway: {name: A, labels: {istio: 7}}
          - name: b
            gateway: {name: a-ingressgw, labels: {istio: ingressgateway-a, app: istio-ingressgateway-a}}
        """,
        ["tenants.yaml:3: tenants[a].gateway.name: 'A' is not a Service name (lower case letters, digits and '-', "
         "starting with a letter, ending with a letter or digit, at most 63 characters)",
         "tenants.yaml:3: tenants[a].gateway.labels: label 'istio': value 7 is not a string (quote it)"],
    ),
    "broken-tls-says-nothing-of-tls-or-routes": (
        """
        tenants:
          - name: a
            gateway:
              servers:
                - {port: 443, protocol: HTTPS, hosts: [a.example.com], tls: {mode: simple, credentialName: a}}
                - {port: 443, hosts: [b.example.com]}
            routes:
              - name: web
                hosts: [a.example.com]
                http: [{to: {service: web, port: 80}}]
        """,
        ["tenants.yaml:5: tenants[a].gateway.servers[0].tls.mode: 'simple' is not allowed; use one of SIMPLE, MUTUAL, "
         "PASSTHROUGH, ISTIO_MUTUAL, OPTIONAL_MUTUAL (did you mean 'SIMPLE'?)",
         "tenants.yaml:6: tenants[a].gateway.servers[1].port: port 443 is used by another server of this gateway"],
    ),
    "broken-export-leaves-its-importers-unjudged": (
        """
        tenants:
          - name: a
            exports: [{service: api, to: [b, B]}]
          - name: b
            imports: [{tenant: a, service: api}, {tenant: a, service: db}]
            routes:
              - name: web
                hosts: [b.example.com]
                http: [{to: {service: web, port: "80"}}]
              - name: web
                http: [{to: {service: web, port: 80}}]
        """,
        ["tenants.yaml:3: tenants[a].exports[0].to[1]: 'B' is not a DNS-1123 label (lower case letters, digits and '-', "
         "starting and ending with a letter or digit, at most 63 characters)",
         "tenants.yaml:9: tenants[b].routes[0].http[0].to.port: '80' is a string; expected a whole number from 1 to "
         "65535: write it without quotes",
         "tenants.yaml:10: tenants[b].routes[1].name: route name 'web' is used twice in this tenant"],
    ),
    "broken-name-leaves-the-tenant-out": (
        """
        tenants:
          - name: A
            namespace: istio-system
          - name: b
            namespace: istio-system
        """,
        ["tenants.yaml:2: tenants[A].name: 'A' is not a DNS-1123 label (lower case letters, digits and '-', "
         "starting and ending with a letter or digit, at most 63 characters)",
         "tenants.yaml:5: tenants[b].namespace: namespace 'istio-system' is the control-plane namespace; "
         "a tenant needs a namespace of its own"],
    ),
}


@pytest.mark.parametrize("name", REPAIRS)
def test_the_rules_run_over_what_is_not_broken(name):
    text, expected = REPAIRS[name]
    assert errors_of(text) == expected


def test_a_broken_control_plane_stops_the_cross_tenant_rules():
    # With the control plane unknown, which namespace is its own is unknown too: no guess.
    lines = errors_of(
        """
        controlPlane: {namespace: Mesh}
        tenants:
          - name: istio-system
        """
    )
    assert lines == [
        "tenants.yaml:1: controlPlane.namespace: 'Mesh' is not a DNS-1123 label (lower case letters, digits and '-', "
        "starting and ending with a letter or digit, at most 63 characters)"
    ]


def test_a_file_expanding_without_end_is_refused():
    # Each level doubles the previous one: 2**25 nodes once the aliases are expanded.
    levels = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 25)]
    with pytest.raises(ConfigError) as caught:
        parse_tenants("\n".join(levels) + "\n", FILE)
    assert str(caught.value) == f"tenants.yaml: more than {MAX_NODES} YAML nodes once aliases are expanded; not a tenants file"


def test_long_values_are_shortened_in_messages():
    lines = errors_of(f"tenants: [{{name: {'x' * 500}}}]\n")
    assert lines == [
        f"tenants.yaml:1: tenants[0].name: '{'x' * 96}... is not a DNS-1123 label (lower case letters, digits and "
        "'-', starting and ending with a letter or digit, at most 63 characters)"
    ]
