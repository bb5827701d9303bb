"""Typed model of a tenants file.

Field-level rules live here (pydantic validators); rules that compare tenants with
each other live in `tenants.rules`. Everything downstream trusts these objects.
Each constrained type carries its JSON Schema, built from the same patterns, so that
`tenants/schema.json` (editors) and the program accept the same values.
"""

from __future__ import annotations

import ipaddress
import re
from enum import Enum
from typing import Annotated, Any, Optional

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationInfo, WithJsonSchema, model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from .errors import Brief

# Patterns without anchors: Python uses them with re.fullmatch (`$` would let a trailing
# newline through), the JSON Schema with ^...$.
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
_HOSTNAME = rf"\*|(\*\.)?{_SUBDOMAIN}"
_QUALIFIED_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_QUANTITY = r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?"
_VERSION = r"[0-9]+\.[0-9]+\.[0-9]+"

DNS_LABEL_RULE = "lower case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
SERVICE_NAME_RULE = "lower case letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters"
HOST_FORMS = "use '*', '*.example.com' or 'example.com' (lower case letters, digits, '-' and '.')"


def _matches(pattern: str, value: str, max_length: int) -> bool:
    return len(value) <= max_length and re.fullmatch(pattern, value) is not None


def is_dns_label(value: str) -> bool:
    return _matches(_LABEL, value, 63)


def is_service_name(value: str) -> bool:
    """A DNS-1035 label: what Kubernetes requires of a Service's name."""
    return _matches(_DNS1035, value, 63)


def _string_schema(pattern: str, max_length: Optional[int] = None) -> dict:
    schema: dict = {"type": "string", "pattern": f"^({pattern})$"}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def _fail(kind: str, message: str, **context: Any) -> PydanticCustomError:
    # Formatted here: pydantic's own templates know no `!r`; values are shortened to fit one line.
    shown = {key: Brief(value) for key, value in context.items()}
    return PydanticCustomError(kind, "{message}", {"message": message.format(**shown)})


def _dns_label(value: Any) -> str:
    if not isinstance(value, str) or not is_dns_label(value):
        raise _fail("dns_label", "{value!r} is not a DNS-1123 label (" + DNS_LABEL_RULE + ")", value=value)
    return value


def _service_name(value: Any) -> str:
    if not isinstance(value, str) or not is_service_name(value):
        raise _fail("service_name", "{value!r} is not a Service name (" + SERVICE_NAME_RULE + ")", value=value)
    return value


def _dns_subdomain(value: Any) -> str:
    if not isinstance(value, str) or not _matches(_SUBDOMAIN, value, 253):
        raise _fail(
            "dns_subdomain",
            "{value!r} is not a DNS-1123 subdomain (lower case letters, digits, '-' and '.', at most 253 characters)",
            value=value,
        )
    return value


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _quoted_number(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lstrip("+-").isdigit()


def _number_error(kind: str, value: Any, what: str, expected: str) -> PydanticCustomError:
    if _quoted_number(value):  # `port: "9000"`: YAML reads a quoted number as a string
        return _fail(kind, "{value!r} is a string; expected " + expected + ": write it without quotes", value=value)
    return _fail(kind, "{value!r} is not " + what, value=value)


def _port(value: Any) -> int:
    if not _whole_number(value) or not 1 <= value <= 65535:
        raise _number_error("port", value, "a port (1-65535)", "a whole number from 1 to 65535")
    return value


def _positive_int(value: Any) -> int:
    if not _whole_number(value) or value < 1:
        raise _number_error("positive_int", value, "a whole number of at least 1", "a whole number of at least 1")
    return value


def _label_key(key: Any, what: str = "label") -> None:
    """Label and annotation keys share one syntax (a qualified name with an optional prefix)."""
    if not isinstance(key, str):
        raise _fail(f"{what}_key", what + " key {key!r} is not a string", key=key)
    prefix, slash, name = key.rpartition("/")
    if slash and not _matches(_SUBDOMAIN, prefix, 253):
        raise _fail(
            f"{what}_key",
            what + " key {key!r} has an invalid prefix {prefix!r} (a DNS-1123 subdomain: lower case letters, "
            "digits, '-' and '.')",
            key=key,
            prefix=prefix,
        )
    if not _matches(_QUALIFIED_NAME, name, 63):
        raise _fail(
            f"{what}_key",
            what + " key {key!r} is not a Kubernetes " + what + " key (an optional DNS subdomain prefix and '/', "
            "then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
            key=key,
        )


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail("labels", "expected a mapping of label keys to values, got {value!r}", value=value)
    if not value:
        raise _fail("labels", "labels must not be empty: an empty selector would match every gateway")
    for key, label in value.items():
        _label_key(key)
        if not isinstance(label, str):
            raise _fail("label_value", "label {key!r}: value {value!r} is not a string (quote it)", key=key, value=label)
        if label and not _matches(_QUALIFIED_NAME, label, 63):
            raise _fail(
                "label_value",
                "label {key!r}: {value!r} is not a Kubernetes label value (at most 63 letters, digits, "
                "'-', '_' or '.', starting and ending with a letter or digit)",
                key=key,
                value=label,
            )
    return dict(value)


def _annotations(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail("annotations", "expected a mapping of annotation keys to values, got {value!r}", value=value)
    for key, annotation in value.items():
        _label_key(key, "annotation")
        if not isinstance(annotation, str):
            raise _fail(
                "annotation_value", "annotation {key!r}: value {value!r} is not a string (quote it)", key=key, value=annotation
            )
    return dict(value)


def _host(value: Any, namespaced: bool = True) -> str:
    """Istio host syntax: `*`, `*.example.com`, `example.com`; on gateway servers optionally `namespace/host`."""
    if not isinstance(value, str):
        raise _fail("host", "{value!r} is not a host name; " + HOST_FORMS, value=value)
    if "://" in value:
        raise _fail("host", "{value!r} has a scheme: a host is a name only, without 'http://' or 'https://'", value=value)
    parts = value.split("/")
    if len(parts) > 2 or (len(parts) == 2 and "." in parts[0] and parts[0] != "."):
        raise _fail("host", "{value!r} has a path: a host is a name only; paths belong to route matches", value=value)
    namespace, host = parts if len(parts) == 2 else ("", value)
    if ":" in host:
        raise _fail("host", "{value!r} has a port: a host is a name only; the port is the server's `port`", value=value)
    if len(parts) == 2 and not namespaced:
        raise _fail("host", "{value!r} has a namespace: a route host is a name only; " + HOST_FORMS, value=value)
    if namespace and namespace not in (".", "*") and not is_dns_label(namespace):
        raise _fail("host", "{value!r} is not an Istio host: the part before '/' must be a namespace or '.'", value=value)
    if not _matches(_HOSTNAME, host, 253):
        raise _fail("host", "{value!r} is not an Istio host: " + HOST_FORMS + ", optionally 'namespace/host'", value=value)
    return value


def dns_part(host: str) -> str:
    """`ns/shop.example.com` -> `shop.example.com`."""
    return host.rpartition("/")[2]


def _route_host(value: Any) -> str:
    return _host(value, namespaced=False)


def _quantity(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _matches(_QUANTITY, value, 63):
        raise _fail("quantity", "{value!r} is not a Kubernetes quantity (for example 500m, 2, 4Gi)", value=value)
    return value


def _version(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(_VERSION, value):
        raise _fail("version", "{value!r} is not a version X.Y.Z (for example 1.23.6)", value=value)
    return value


def _uri_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise _fail("uri_path", "{value!r} is not a URI path: it must start with '/'", value=value)
    return value


def _non_negative_int(value: Any) -> int:
    if not _whole_number(value) or value < 0:
        raise _fail("non_negative_int", "{value!r} is not a whole number of at least 0", value=value)
    return value


def _cidr(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("cidr", "{value!r} is not an IP range (for example 10.0.0.0/8 or 2001:db8::/32)", value=value)
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise _fail(
            "cidr", "{value!r} is not an IP range in CIDR notation with its host bits zero (for example 10.0.0.0/8)", value=value
        ) from None
    if "/" not in value:
        raise _fail("cidr", "{value!r} has no prefix length: write {shown!r}", value=value, shown=str(network))
    return value


def _regex(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("regex", "{value!r} is not a regular expression (a string)", value=value)
    try:
        re.compile(value)
    except Exception:  # re.error, and RecursionError or OverflowError on pathological patterns
        raise _fail("regex", "{value!r} is not a valid regular expression (RE2 syntax)", value=value) from None
    return value


def _label_map_schema() -> dict:
    key = rf"({_SUBDOMAIN}/)?{_QUALIFIED_NAME}"
    return {
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"pattern": f"^({key})$"},
        "additionalProperties": {"type": "string", "maxLength": 63, "pattern": f"^({_QUALIFIED_NAME})?$"},
    }


DnsLabel = Annotated[str, BeforeValidator(_dns_label), WithJsonSchema(_string_schema(_LABEL, 63))]
ServiceName = Annotated[str, BeforeValidator(_service_name), WithJsonSchema(_string_schema(_DNS1035, 63))]
DnsSubdomain = Annotated[str, BeforeValidator(_dns_subdomain), WithJsonSchema(_string_schema(_SUBDOMAIN, 253))]
Port = Annotated[int, BeforeValidator(_port), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 65535})]
PositiveInt = Annotated[int, BeforeValidator(_positive_int), WithJsonSchema({"type": "integer", "minimum": 1})]
NonNegativeInt = Annotated[int, BeforeValidator(_non_negative_int), WithJsonSchema({"type": "integer", "minimum": 0})]


def _stack_number(value: Any) -> int:
    """A whole number from a stack file: Pulumi passes every config value as a string."""
    if _quoted_number(value):
        value = int(value)
    if not _whole_number(value) or value < 1:
        raise _fail("stack_number", "{value!r} is not a whole number of at least 1", value=value)
    return value


StackNumber = Annotated[int, BeforeValidator(_stack_number), WithJsonSchema({"type": "integer", "minimum": 1})]
# The provider's client rate limits for a platform stack (docs/scale.md#the-providers-client).
KUBE_CLIENT_QPS = 200
KUBE_CLIENT_BURST = 400
# Past this many tenants an installation is sharded unless `tenantShards` says otherwise (tenants/shards.py):
# one stack's local-backend checkpoints grow with the square of its size, and already at 20 tenants
# its first `up` took 2.7 times that of a platform stack and two shards (docs/scale.md, "Where the line is").
AUTO_SHARD_TENANTS = 20
TENANTS_PER_SHARD = 10
Cidr = Annotated[str, BeforeValidator(_cidr), WithJsonSchema({"type": "string", "format": "cidr"})]
Labels = Annotated[dict[str, str], BeforeValidator(_labels), WithJsonSchema(_label_map_schema())]
Annotations = Annotated[
    dict[str, str],
    BeforeValidator(_annotations),
    WithJsonSchema({**_label_map_schema(), "minProperties": 0, "additionalProperties": {"type": "string"}}),
]
Host = Annotated[
    str, BeforeValidator(_host), WithJsonSchema(_string_schema(rf"((\.|\*|{_LABEL})/)?({_HOSTNAME})", 317))
]
RouteHost = Annotated[str, BeforeValidator(_route_host), WithJsonSchema(_string_schema(_HOSTNAME, 253))]
Quantity = Annotated[
    str,
    BeforeValidator(_quantity),
    WithJsonSchema({"anyOf": [_string_schema(_QUANTITY, 63), {"type": "number", "minimum": 0}]}),
]
Version = Annotated[str, BeforeValidator(_version), WithJsonSchema(_string_schema(_VERSION))]
UriPath = Annotated[str, BeforeValidator(_uri_path), WithJsonSchema({"type": "string", "pattern": "^/"})]
Regex = Annotated[str, BeforeValidator(_regex), WithJsonSchema({"type": "string", "format": "regex"})]
# Only true and false: a quoted "false" or a 0 is a mistake, not a boolean.
Bool = Annotated[bool, Strict()]


def _non_empty(items: list) -> list:
    if not items:
        raise _fail("non_empty", "must list at least one entry")
    return items


def _unique(items: list) -> list:
    seen = set()
    for item in items:
        if item in seen:
            raise _fail("unique", "{item!r} is listed twice", item=item)
        seen.add(item)
    return items


class Model(BaseModel):
    """Base: camelCase keys in YAML, unknown keys rejected, immutable once loaded."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
    )


class Protocol(str, Enum):
    """Istio server protocols a tenant gateway may listen with."""

    HTTP = "HTTP"
    HTTPS = "HTTPS"
    HTTP2 = "HTTP2"
    GRPC = "GRPC"
    TCP = "TCP"
    TLS = "TLS"


TLS_PROTOCOLS = (Protocol.HTTPS, Protocol.TLS)


class RouteKind(str, Enum):
    """The three kinds of route, named as a route's key in the file."""

    HTTP = "http"
    TCP = "tcp"
    TLS = "tls"


class TlsMode(str, Enum):
    """Istio ServerTLSSettings modes."""

    SIMPLE = "SIMPLE"
    MUTUAL = "MUTUAL"
    PASSTHROUGH = "PASSTHROUGH"
    ISTIO_MUTUAL = "ISTIO_MUTUAL"
    OPTIONAL_MUTUAL = "OPTIONAL_MUTUAL"


# Modes where the gateway terminates TLS with a certificate of the tenant's (a Secret): they need a
# credentialName. PASSTHROUGH terminates nothing, ISTIO_MUTUAL uses the mesh's own certificates.
CREDENTIAL_MODES = (TlsMode.SIMPLE, TlsMode.MUTUAL, TlsMode.OPTIONAL_MUTUAL)


class Profile(str, Enum):
    """Istio profiles that install istiod: those of Istio 1.23's IstioOperator, which include those
    Istio 1.30's Helm charts ship. Which ones an install method takes is checked with the stack's
    settings (`tenants.install`)."""

    DEFAULT = "default"
    DEMO = "demo"
    MINIMAL = "minimal"
    STABLE = "stable"
    PREVIEW = "preview"
    AMBIENT = "ambient"
    OPENSHIFT = "openshift"
    OPENSHIFT_AMBIENT = "openshift-ambient"


class Replicas(Model):
    """Replica counts of the control plane's deployments."""

    pilot: Optional[PositiveInt] = Field(None, description="istiod replicas (default: the profile's).")
    ingress_gateway: Optional[PositiveInt] = Field(
        None, description="Control-plane ingress gateway replicas (default: the profile's)."
    )


class ControlPlane(Model):
    """The platform's Istio control plane (one mesh)."""

    # `profile` as the plain string the IstioOperator takes.
    model_config = ConfigDict(use_enum_values=True)

    name: DnsLabel = Field("platform-istiocontrolplane", description="Name of the control plane's IstioOperator.")
    namespace: DnsLabel = Field("istio-system", description="Control-plane namespace; no tenant may use it.")
    profile: Profile = Field(
        "demo",
        description="Istio profile of the control plane: helm takes default, demo, preview or stable; "
        "operator also minimal, ambient, openshift, openshift-ambient.",
    )
    replicas: Replicas = Field(default_factory=Replicas, description="Replica counts (default: the profile's).")


# --- Several meshes ---------------------------------------------------------------------
# Istio's `istio.io/rev` label is read by every control plane's webhooks: revision and tag
# names are one name space for the whole cluster (tenants/mesh_rules.py keeps them apart).
# `istiod-<revision>` and `istiod-revision-tag-<tag>` are Service names (at most 63 characters).
REVISION_MAX = 63 - len("istiod-")
TAG_MAX = 63 - len("istiod-revision-tag-")


class OutboundTrafficMode(str, Enum):
    """Istio's MeshConfig.OutboundTrafficPolicy modes a mesh may choose."""

    ALLOW_ANY = "ALLOW_ANY"
    REGISTRY_ONLY = "REGISTRY_ONLY"


class AccessLogEncoding(str, Enum):
    TEXT = "TEXT"
    JSON = "JSON"


def _log_path(value: Any) -> str:
    if not isinstance(value, str) or (value and not value.startswith("/")):
        raise _fail("log_path", "{value!r} is not a file path: use '' (no access log) or a path such as /dev/stdout", value=value)
    return value


LogPath = Annotated[str, BeforeValidator(_log_path), WithJsonSchema({"type": "string", "pattern": "^(/.*)?$"})]


class OutboundTrafficPolicy(Model):
    mode: OutboundTrafficMode = Field(description="ALLOW_ANY (Istio's default) or REGISTRY_ONLY (only known services).")


class MeshConfig(Model):
    """Mesh-wide settings of one mesh: a subset of Istio's MeshConfig, with its field names.

    Discovery selectors are not among them: the program sets them so that each mesh sees only
    its own namespaces."""

    model_config = ConfigDict(use_enum_values=True)

    outbound_traffic_policy: Optional[OutboundTrafficPolicy] = Field(
        None, description="What sidecars do with traffic to destinations the mesh does not know."
    )
    access_log_file: Optional[LogPath] = Field(None, description="Proxy access log file, e.g. /dev/stdout ('' for none).")
    access_log_encoding: Optional[AccessLogEncoding] = Field(None, description="TEXT or JSON.")


class Revision(Model):
    """One control plane (istiod) of a mesh, named as workloads select it: `istio.io/rev=<name>`."""

    name: DnsLabel = Field(
        description="Revision name, unique in the cluster, e.g. 1-30-5; `default` (first mesh only): Istio's control plane "
        "without a revision, which a stack without meshes runs (namespaces join it with istio-injection: enabled)."
    )
    version: Optional[Version] = Field(None, description="Istio version X.Y.Z (default: the stack's istioVersion).")


class Mesh(Model):
    """A mesh of its own: a control plane namespace, its revisions, and the tenants that join it."""

    model_config = ConfigDict(use_enum_values=True)

    name: DnsLabel = Field(description="Mesh name, unique; the value of the mesh label on its namespaces.")
    namespace: Optional[DnsLabel] = Field(None, description="Control-plane namespace of the mesh (default: the mesh name).")
    profile: Profile = Field("default", description="Istio profile of the mesh's control planes.")
    revisions: Optional[Annotated[list[Revision], AfterValidator(_non_empty)]] = Field(
        None, description="The mesh's control planes (default: one revision named after the mesh, at the stack's istioVersion)."
    )
    tags: dict[DnsLabel, DnsLabel] = Field(
        default_factory=dict, description="Revision tags: tag name -> revision name, e.g. stable: 1-30-5."
    )
    default_revision: Optional[DnsLabel] = Field(
        None,
        description="Tag or revision of the tenants that name none (default: the mesh's only revision; "
        "required when it lists several).",
    )
    mesh_config: MeshConfig = Field(default_factory=MeshConfig, description="Mesh-wide settings.")
    replicas: Replicas = Field(
        default_factory=Replicas,
        description="Replica counts; ingressGateway only on the first mesh, whose gateway serves the observability add-ons.",
    )
    previous_names: Annotated[list[DnsLabel], AfterValidator(_unique)] = Field(
        default_factory=list,
        description="Former names of the mesh (for the first mesh, also the `name` of the controlPlane it replaces), "
        "kept as Pulumi aliases so that its resources are not replaced.",
    )

    @property
    def namespace_name(self) -> str:
        return self.namespace or self.name

    @property
    def revision_list(self) -> list[Revision]:
        return list(self.revisions) if self.revisions is not None else [Revision(name=self.name)]


class Addons(Model):
    """Which observability add-ons get a route on the control-plane gateway: none by default; a route
    needs a login in front of it (`oidc`), or `exposure: port-forward` to keep it off."""

    kiali: Bool = Field(False, description="Serve Kiali on https://kiali.<domain>.")
    grafana: Bool = Field(False, description="Serve Grafana on https://grafana.<domain>.")
    prometheus: Bool = Field(False, description="Serve Prometheus on https://prometheus.<domain>.")
    tracing: Bool = Field(False, description="Serve the tracing UI on https://tracing.<domain>.")


# The add-ons whose data is the whole mesh's (Prometheus's series, Grafana's queries of them,
# Jaeger's traces): behind the login, only the platform's groups. Kiali is not among them: it acts
# with each user's own Kubernetes identity, so a tenant admin sees only their own namespaces.
MESH_WIDE_ADDONS = ("grafana", "prometheus", "tracing")


def _https_url(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https://[^\s/?#]+(/[^\s?#]*)?", value):
        raise _fail("https_url", "{value!r} is not an https:// URL (an OIDC issuer is served over HTTPS only)", value=value)
    return value


def _percentage(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        if _quoted_number(value):
            raise _fail("percentage", "{value!r} is a string; expected a number from 0 to 100: write it without quotes", value=value)
        raise _fail("percentage", "{value!r} is not a percentage (a number from 0 to 100)", value=value)
    return float(value)


HttpsUrl = Annotated[str, BeforeValidator(_https_url), WithJsonSchema({"type": "string", "pattern": r"^https://[^\s/?#]+(/[^\s?#]*)?$"})]


def _group_name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[^,\s]+", value):
        raise _fail("group_name", "{value!r} is not a group name oauth2-proxy can list: it reads its allowed groups "
                    "comma-separated, so a name holds no comma and no space", value=value)
    return value


GroupName = Annotated[str, BeforeValidator(_group_name), WithJsonSchema({"type": "string", "pattern": r"^[^,\s]+$"})]
Percentage = Annotated[float, BeforeValidator(_percentage), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100})]


class Exposure(str, Enum):
    """How people reach the add-ons: through the platform gateway (behind the OIDC login), or only
    with `kubectl port-forward` (no route at all)."""

    GATEWAY = "gateway"
    PORT_FORWARD = "port-forward"


class Oidc(Model):
    """The OpenID Connect provider people log in with, in front of every add-on route and in Kiali and Grafana."""

    issuer: HttpsUrl = Field(description="The issuer URL (https://), as the provider's discovery document names it.")
    client_id: Annotated[str, Field(min_length=1)] = Field(description="The OAuth client registered for the add-ons.")
    client_secret: DnsLabel = Field(
        description="Secret in the add-ons' namespace holding `client-secret` (the OAuth client's) and `cookie-secret` "
        "(oauth2-proxy's session key: 16, 24 or 32 bytes); created by the platform team, never in this file."
    )
    groups_claim: Annotated[str, Field(min_length=1)] = Field(
        "groups", description="The ID token claim listing the user's groups (tenants' `admins.groups`)."
    )
    platform_groups: Annotated[list[GroupName], AfterValidator(_unique)] = Field(
        default_factory=list,
        description="Groups (in `groupsClaim`) whose members may open Grafana, Prometheus and the tracing UI, whose data "
        "is mesh-wide: the login lets no one else through. Required while any of them is routed; tenants' admins see "
        "their own namespaces in Kiali.",
    )


class Observability(Model):
    """Observability add-ons: installed by the program (`install`) and served through the control-plane
    ingress gateway behind an OIDC login."""

    domain: DnsSubdomain = Field(
        "example.com", description="Add-ons are served on <addon>.<domain>; tenants may not claim those hosts."
    )
    addons: Addons = Field(default_factory=Addons, description="Switch each add-on's route on (HTTPS, behind the login) or off.")
    credential_name: Optional[DnsSubdomain] = Field(
        None, description="Secret in the control-plane namespace with the add-on hosts' certificate; required once an add-on is on."
    )
    scraper_namespace: Optional[DnsLabel] = Field(
        None, description="Namespace of the Prometheus allowed to scrape istiod (15014) and every proxy's metrics (15020, 15090), "
        "tenants' included (default: the add-ons' namespace when installed, else each mesh's control-plane namespace)."
    )
    install: Bool = Field(
        False, description="Install Prometheus, Grafana, Kiali, Jaeger (and oauth2-proxy with `oidc`) from their Helm charts."
    )
    namespace: DnsLabel = Field("istio-system", description="Namespace of the add-ons the program installs.")
    chart_repository: Optional[str] = Field(
        None, description="A repository (https:// or oci://) holding all five add-on charts at their pinned versions "
        "(default: each chart's upstream repository)."
    )
    chart_directory: Optional[str] = Field(
        None, description="A local directory holding the charts prometheus/, grafana/, kiali-server/, jaeger/ and oauth2-proxy/, "
        "instead of a repository (relative to the project)."
    )
    oidc: Optional[Oidc] = Field(None, description="The login in front of every add-on route; without it, no route is published.")
    exposure: Optional[Exposure] = Field(
        None, description="gateway (routes behind the `oidc` login) or port-forward (no route: kubectl port-forward only)."
    )
    sampling_rate: Percentage = Field(1.0, description="Percentage of requests the mesh traces (0 to 100).")

    @property
    def routed(self) -> bool:
        """Whether add-on routes are published at all: only behind a login, and not when port-forward is asked."""
        return self.oidc is not None and self.exposure != Exposure.PORT_FORWARD


class Tls(Model):
    """TLS settings of an HTTPS or TLS server."""

    mode: TlsMode = Field(
        description="SIMPLE, MUTUAL and OPTIONAL_MUTUAL need a credentialName; PASSTHROUGH and ISTIO_MUTUAL take none."
    )
    credential_name: Optional[DnsSubdomain] = Field(
        None, description="Secret in the tenant's namespace holding the certificate (not for PASSTHROUGH or ISTIO_MUTUAL)."
    )
    issuer: Optional[DnsSubdomain] = Field(
        None, description="cert-manager ClusterIssuer: when set, a Certificate is requested for the server's hosts."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"mode": {"enum": [m.value for m in CREDENTIAL_MODES]}}, "required": ["mode"]},
                    "then": {"required": ["credentialName"], "properties": {"credentialName": {"type": "string"}}},
                    "else": {"properties": {"credentialName": {"type": "null"}, "issuer": {"type": "null"}}},
                }
            ]
        }
    )


class Server(Model):
    """One port of the tenant's gateway."""

    port: Port = Field(description="Port the gateway listens on (1-65535), unique per gateway.")
    protocol: Protocol = Field(Protocol.HTTP, description="HTTP, HTTPS, HTTP2, GRPC, TCP or TLS; HTTPS and TLS need `tls`.")
    hosts: Annotated[list[Host], AfterValidator(_non_empty), AfterValidator(_unique)] = Field(
        default_factory=lambda: ["*"],
        description="Hosts served: '*', '*.example.com', 'example.com', optionally './host'; an explicit host belongs to one tenant.",
    )
    name: Optional[DnsLabel] = Field(None, description="Port name (default: <protocol>-<port>).")
    tls: Optional[Tls] = Field(None, description="Required for HTTPS and TLS servers, not allowed for the others.")

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"protocol": {"enum": [p.value for p in TLS_PROTOCOLS]}}, "required": ["protocol"]},
                    "then": {"required": ["tls"], "properties": {"tls": {"type": "object"}}},
                    "else": {"properties": {"tls": {"type": "null"}}},
                }
            ]
        }
    )

    @property
    def passes_tls_through(self) -> bool:
        return self.protocol in TLS_PROTOCOLS and self.tls is not None and self.tls.mode == TlsMode.PASSTHROUGH

    @property
    def route_kind(self) -> Optional[RouteKind]:
        """The one kind of route that can use this server (None for a TLS server without its tls block).

        HTTP routes: HTTP-family servers and HTTPS servers that terminate TLS. TLS routes (by SNI):
        servers that pass TLS through. TCP routes: TCP servers, and TLS servers that terminate TLS
        (what is left after termination is a TCP stream).
        """
        if self.passes_tls_through:
            return RouteKind.TLS
        if self.protocol == Protocol.TLS:
            return RouteKind.TCP if self.tls is not None else None
        if self.protocol == Protocol.TCP:
            return RouteKind.TCP
        return RouteKind.HTTP

    @property
    def carries_http(self) -> bool:
        """HTTP routes apply on HTTP-family servers and on HTTPS servers that terminate TLS."""
        return self.route_kind == RouteKind.HTTP

    @property
    def port_name(self) -> str:
        return self.name or f"{self.protocol.value.lower()}-{self.port}"


class ServiceType(str, Enum):
    """Kubernetes Service types a tenant gateway's Service may have."""

    LOAD_BALANCER = "LoadBalancer"
    NODE_PORT = "NodePort"
    CLUSTER_IP = "ClusterIP"


class GatewayService(Model):
    """The Kubernetes Service in front of the tenant's gateway pods."""

    type: ServiceType = Field(
        ServiceType.LOAD_BALANCER, description="LoadBalancer (default), NodePort or ClusterIP."
    )
    annotations: Annotations = Field(
        default_factory=dict,
        description="Service annotations (internal load balancers, static addresses); load-balancer "
        "annotations only with type LoadBalancer.",
    )


class GatewayApi(str, Enum):
    """Which API configures the tenant's gateway."""

    ISTIO = "istio"  # networking.istio.io Gateway; the gateway deployed by the install (chart or IstioOperator)
    GATEWAY_API = "gateway-api"  # gateway.networking.k8s.io Gateway; Istio deploys the gateway itself


def _default_servers() -> list[Server]:
    return [Server(port=80, protocol=Protocol.HTTP, hosts=["*"])]


class Gateway(Model):
    """The tenant's own ingress gateway (deployment, service and Istio Gateway)."""

    name: Optional[ServiceName] = Field(
        None, description="Gateway deployment and Service name, unique across tenants (default: <tenant>-ingressgw)."
    )
    labels: Optional[Labels] = Field(
        None,
        description="Gateway pod labels, and the Gateway's selector: unique to the tenant "
        "(default: istio: ingressgateway-<tenant>, app: istio-ingressgateway-<tenant>).",
    )
    servers: Annotated[list[Server], AfterValidator(_non_empty)] = Field(
        default_factory=_default_servers, description="Ports the gateway listens on (default: HTTP on 80 for '*')."
    )
    replicas: Optional[PositiveInt] = Field(None, description="Gateway replicas (default: the operator's, 1).")
    service: GatewayService = Field(
        default_factory=GatewayService, description="The gateway's Service: type and annotations."
    )
    api: GatewayApi = Field(
        GatewayApi.ISTIO,
        description="istio (default): an Istio Gateway and a gateway deployed by the install; gateway-api: a "
        "Kubernetes Gateway API Gateway (class istio), whose gateway Istio deploys, and one HTTPRoute, TLSRoute "
        "or TCPRoute per route.",
    )

    @property
    def servers_by_port(self) -> list[Server]:
        """Servers in port order (ports are unique): their order in the file is no part of the gateway."""
        return sorted(self.servers, key=lambda server: server.port)


_URI_MATCH_KINDS = ("exact", "prefix", "regex")


class UriMatch(Model):
    """One URI match: exactly one of exact, prefix or regex."""

    exact: Optional[UriPath] = Field(None, description="The path, exactly (starts with '/').")
    prefix: Optional[UriPath] = Field(None, description="A path prefix (starts with '/').")
    regex: Optional[Regex] = Field(None, description="A regular expression (RE2) over the path.")

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": [kind], "properties": {kind: {"type": "string"}}} for kind in _URI_MATCH_KINDS]
        }
    )

    @model_validator(mode="after")
    def _one_kind(self) -> "UriMatch":
        if sum(getattr(self, kind) is not None for kind in _URI_MATCH_KINDS) != 1:
            raise ValueError("a match needs exactly one of exact, prefix or regex")
        return self


class Destination(Model):
    """A Service in the tenant's namespace."""

    service: ServiceName = Field(description="Service name in the tenant's namespace.")
    port: Port = Field(description="Service port (1-65535).")


class HttpRoute(Model):
    """Requests matching any of `match` go to `to`."""

    match: list[UriMatch] = Field(default_factory=list, description="URI matches; none matches every request.")
    to: Destination = Field(description="Where matching requests go.")


class TcpRoute(Model):
    """Connections to a TCP server (or a TLS server that terminates TLS) go to `to`."""

    port: Optional[Port] = Field(
        None, description="The server port whose connections this route takes (default: every TCP server and every "
        "TLS server that terminates TLS)."
    )
    to: Destination = Field(description="Where the connections go.")


class TlsRoute(Model):
    """TLS connections passed through the gateway go to `to`, chosen by their SNI host name."""

    port: Optional[Port] = Field(
        None, description="The TLS-passthrough server port this route takes (default: every TLS-passthrough server "
        "serving the route's hosts)."
    )
    to: Destination = Field(description="Where the connections go; the TLS session ends there.")


_ROUTE_KINDS = tuple(kind.value for kind in RouteKind)


class Route(Model):
    """A route bound to the tenant's gateway: HTTP requests, TCP connections or passed-through TLS."""

    name: DnsLabel = Field(description="Route name (VirtualService, HTTPRoute, TCPRoute or TLSRoute), unique in the tenant.")
    hosts: Optional[Annotated[list[RouteHost], AfterValidator(_non_empty), AfterValidator(_unique)]] = Field(
        None,
        description="HTTP: the hosts this route answers; TLS: the SNI host names it takes; not for TCP. Each served "
        "by the gateway (default: every host of the servers the route can use).",
    )
    http: Optional[Annotated[list[HttpRoute], AfterValidator(_non_empty)]] = Field(
        None, description="HTTP rules, tried in order (exactly one of http, tcp, tls)."
    )
    tcp: Optional[TcpRoute] = Field(None, description="Forward TCP connections (exactly one of http, tcp, tls).")
    tls: Optional[TlsRoute] = Field(
        None, description="Forward passed-through TLS connections by SNI (exactly one of http, tcp, tls)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": [kind], "properties": {kind: {"not": {"type": "null"}}}} for kind in _ROUTE_KINDS
            ]
        }
    )

    @model_validator(mode="after")
    def _one_kind(self) -> "Route":
        if sum(getattr(self, kind) is not None for kind in _ROUTE_KINDS) != 1:
            raise ValueError("a route needs exactly one of http, tcp or tls")
        return self

    @property
    def kind(self) -> RouteKind:
        return next(kind for kind in RouteKind if getattr(self, kind.value) is not None)

    @property
    def port(self) -> Optional[int]:
        """The server port a TCP or TLS route names, if any (HTTP routes name none)."""
        forward = self.tcp or self.tls
        return forward.port if forward is not None else None


class Admins(Model):
    users: Annotated[list[Annotated[str, Field(min_length=1)]], AfterValidator(_unique)] = Field(
        default_factory=list, description="Users bound to the built-in `admin` ClusterRole in the tenant's namespace."
    )
    groups: Annotated[list[Annotated[str, Field(min_length=1)]], AfterValidator(_unique)] = Field(
        default_factory=list, description="Groups bound to the built-in `admin` ClusterRole in the tenant's namespace."
    )


class Quota(Model):
    cpu: Quantity = Field("4", description="requests.cpu: total CPU requested by the pods of the tenant's namespace.")
    memory: Quantity = Field("8Gi", description="requests.memory: total memory requested by the pods of the tenant's namespace.")
    pods: PositiveInt = Field(50, description="Maximum pods in the tenant's namespace.")
    # Istio's sidecars carry a 1Gi memory limit each: 50 pods with a sidecar and a container at the
    # default 512Mi limit need 75Gi of limits.
    limits_memory: Quantity = Field("80Gi", description="limits.memory: total memory limit of the pods of the tenant's namespace.")
    container_memory: Quantity = Field(
        "8Gi", description="Largest memory limit of one container (LimitRange max); at least the sidecar's 1Gi."
    )
    ephemeral_storage: Quantity = Field(
        "20Gi", description="requests.ephemeral-storage: total local disk requested by the pods of the tenant's namespace."
    )
    config_maps: PositiveInt = Field(100, description="Maximum ConfigMaps (Kubernetes and Istio add two to every namespace).")
    secrets: PositiveInt = Field(100, description="Maximum Secrets.")
    services: PositiveInt = Field(20, description="Maximum Services (the gateway's included).")
    persistent_volume_claims: NonNegativeInt = Field(20, description="Maximum PersistentVolumeClaims.")
    node_ports: NonNegativeInt = Field(
        0, description="Node ports the tenant's own NodePort Services may take; 0 refuses NodePort Services."
    )
    storage: Quantity = Field(
        "100Gi", description="requests.storage: total storage the tenant's PVCs request (per listed StorageClass too)."
    )
    volume_size: Quantity = Field("20Gi", description="Largest PersistentVolumeClaim (LimitRange max).")
    limits_ephemeral_storage: Quantity = Field(
        "40Gi", description="limits.ephemeral-storage: total local disk limit of the pods of the tenant's namespace."
    )
    container_ephemeral_storage: Quantity = Field("4Gi", description="Largest ephemeral-storage limit of one container (LimitRange max).")
    objects: PositiveInt = Field(
        50, description="Maximum objects of each Istio, Gateway API and cert-manager kind, and of Jobs, CronJobs and RoleBindings."
    )


class PodSecurity(str, Enum):
    """Pod Security Standards a tenant namespace may enforce: never below baseline."""

    RESTRICTED = "restricted"
    BASELINE = "baseline"


class EgressAllowance(Model):
    """Addresses outside the mesh's namespaces that the tenant's pods may connect to."""

    cidr: Cidr = Field(description="IP range (10.0.0.0/8, 2001:db8::/32); never the cloud metadata address 169.254.169.254.")
    ports: Annotated[list[Port], AfterValidator(_unique)] = Field(
        default_factory=list, description="TCP ports (default: every port)."
    )


class Export(Model):
    """A Service of this tenant that other tenants may call."""

    service: ServiceName = Field(description="Service in this tenant's namespace.")
    to: Annotated[list[DnsLabel], AfterValidator(_non_empty), AfterValidator(_unique)] = Field(
        description="Tenants allowed to call it."
    )


class Import(Model):
    """A Service of another tenant that this tenant calls; that tenant must export it to this one."""

    tenant: DnsLabel = Field(description="The tenant that exports the service.")
    service: ServiceName = Field(description="The exported Service.")


class Removal(Model):
    """What `pulumi up` does in a removed tenant's retained namespace (docs/day-2.md)."""

    keep_workloads: Bool = Field(
        False,
        description="Leave what the tenant created as it is: its own RoleBindings and running workloads. By default "
        "removing the tenant deletes its RoleBindings (those without the platform's tenant label) and scales its "
        "Deployments, StatefulSets and ReplicaSets to zero and suspends its CronJobs and Jobs. Set it before removing the tenant.",
    )


class Tenant(Model):
    """One tenant: a namespace, an ingress gateway of its own and its routes."""

    name: DnsLabel = Field(description="Tenant name, unique; also the default namespace.")
    namespace: Optional[DnsLabel] = Field(
        None, description="Tenant namespace, unique, not a system or platform namespace (default: the tenant name)."
    )
    mesh: Optional[DnsLabel] = Field(None, description="The mesh the tenant joins (default: the first of `meshes`).")
    revision: Optional[DnsLabel] = Field(
        None, description="Tag or revision of its mesh the tenant runs on (default: the mesh's defaultRevision)."
    )
    gateway: Gateway = Field(default_factory=Gateway, description="The tenant's ingress gateway.")
    routes: list[Route] = Field(default_factory=list, description="HTTP, TCP and TLS routes bound to the tenant's gateway.")
    admins: Admins = Field(default_factory=Admins, description="Who administers the tenant's namespace.")
    quota: Quota = Field(default_factory=Quota, description="Resource quota of the tenant's namespace.")
    pod_security: PodSecurity = Field(
        PodSecurity.RESTRICTED, description="Pod Security Standard enforced in the namespace: restricted or baseline, never lower."
    )
    egress: list[EgressAllowance] = Field(
        default_factory=list, description="Addresses outside the cluster's namespaces its pods may connect to (NetworkPolicy)."
    )
    exports: list[Export] = Field(default_factory=list, description="Services other tenants may call.")
    imports: list[Import] = Field(default_factory=list, description="Services of other tenants this tenant calls.")
    decommission: Bool = Field(
        False, description="Allow the namespace to be deleted when the tenant is removed from the file."
    )
    removal: Optional[Removal] = Field(
        None, description="What removing the tenant does in its retained namespace (default: the file's `removal`)."
    )
    adopt: Bool = Field(
        False,
        description="Take over the retained namespace of a removed tenant of the same name, as it is. Without it, "
        "adding a tenant whose retained namespace is still in the cluster fails the preview.",
    )
    previous_names: Annotated[list[DnsLabel], AfterValidator(_unique)] = Field(
        default_factory=list, description="Former tenant names, kept as Pulumi aliases so a rename is no replace."
    )

    # Defaults derived from the name: resolved here so builders never re-derive them.
    @property
    def namespace_name(self) -> str:
        return self.namespace or self.name

    @property
    def gateway_name(self) -> str:
        return self.gateway.name or f"{self.name}-ingressgw"

    @property
    def gateway_labels(self) -> dict[str, str]:
        return self.gateway.labels or {
            "istio": f"ingressgateway-{self.name}",
            "app": f"istio-ingressgateway-{self.name}",
        }

    @property
    def uses_gateway_api(self) -> bool:
        """True when the tenant's gateway is a Gateway API `Gateway`: Istio deploys it, so no
        gateway chart or IstioOperator is installed for this tenant."""
        return self.gateway.api == GatewayApi.GATEWAY_API

    @property
    def served_hosts(self) -> list[str]:
        hosts: list[str] = []
        for server in self.gateway.servers_by_port:
            hosts.extend(h for h in server.hosts if h not in hosts)
        return hosts

    @property
    def served_dns_names(self) -> list[str]:
        """The gateway's hosts without their `namespace/` part, as clients and VirtualServices name them."""
        return list(dict.fromkeys(dns_part(host) for host in self.served_hosts))

    def route_servers(self, route: Route) -> list[Server]:
        """The servers a route can use: of its kind, on its port when it names one (in port order)."""
        return [
            server for server in self.gateway.servers_by_port
            if server.route_kind == route.kind and route.port in (None, server.port)
        ]

    def route_hosts(self, route: Route) -> list[str]:
        """A route's hosts; by default those of the servers it can use."""
        if route.hosts:
            return list(route.hosts)
        return list(dict.fromkeys(dns_part(host) for server in self.route_servers(route) for host in server.hosts))


_RULES_CHECKED_BY_CALLER = "tenants: rules checked by the caller"


def rules_checked_by_caller() -> dict:
    """The validation context of a caller that runs the rules across tenants itself (the loader, which knows lines)."""
    return {_RULES_CHECKED_BY_CALLER: True}


class PlatformIdentities(Model):
    """Who acts for the platform in the cluster: exempt from the admission policies that bind tenants."""

    users: Annotated[list[Annotated[str, Field(min_length=1)]], AfterValidator(_unique)] = Field(
        default_factory=list,
        description="Users (the Pulumi deployer's). cert-manager is not one: it is exempted per rule (cluster.certManager.users).",
    )
    groups: Annotated[list[Annotated[str, Field(min_length=1)]], AfterValidator(_unique)] = Field(
        default_factory=lambda: ["system:masters"], description="Groups (cluster administrators)."
    )


CERT_MANAGER_SERVICE_ACCOUNT = "system:serviceaccount:cert-manager:cert-manager"


class CertManager(Model):
    """cert-manager, where the cluster runs it: a namespace the program uses but does not create."""

    namespace: DnsLabel = Field("cert-manager", description="cert-manager's namespace.")
    network_policy: Optional[Bool] = Field(
        None,
        description="Give cert-manager's namespace a default-deny ingress NetworkPolicy, with its webhook open "
        "(the API server calls it) and its metrics to the scraper only. Default: on whenever the file uses cert-manager "
        "(a server names an issuer, or approverPolicy), off otherwise (the namespace may not exist).",
    )

    def protected(self, config: "TenantsFile") -> bool:
        if self.network_policy is not None:
            return self.network_policy
        return self.approver_policy or any(
            server.tls is not None and server.tls.issuer for tenant in config.tenants for server in tenant.gateway.servers
        )
    users: Annotated[list[Annotated[str, Field(min_length=1)]], AfterValidator(_unique)] = Field(
        default_factory=lambda: [CERT_MANAGER_SERVICE_ACCOUNT],
        description="cert-manager's controller identity: exempt only from the rules about what it must create "
        "(CertificateRequests, ACME Orders and Challenges, its HTTP-01 solvers), never from the Certificate rules.",
    )
    approver_policy: Bool = Field(
        False,
        description="The cluster runs cert-manager's approver-policy: generate one CertificateRequestPolicy per tenant "
        "(its hosts, no CA, no subject) and its RBAC.",
    )


class KubeSystem(Model):
    """kube-system, which the program uses (DNS) but does not own."""

    network_policy: Bool = Field(
        False,
        description="Give kube-system a default-deny ingress NetworkPolicy with DNS (53) open to every namespace. "
        "Off by default: kube-system runs components the program does not know (metrics-server behind the API "
        "server's aggregation, the CNI's and the cloud's own agents), which a default deny would cut off.",
    )


class Cluster(Model):
    """What the cluster offers tenants, and which of its own namespaces the program protects."""

    cert_manager: CertManager = Field(default_factory=CertManager, description="cert-manager, as the cluster runs it.")
    kube_system: KubeSystem = Field(default_factory=KubeSystem, description="kube-system's protection.")
    jwks_hosts: Annotated[list[DnsSubdomain], AfterValidator(_unique)] = Field(
        default_factory=list,
        description="Hosts a tenant's RequestAuthentication may fetch JWKS from (jwksUri, https only); none by default.",
    )
    storage_classes: Annotated[list[DnsSubdomain], AfterValidator(_unique)] = Field(
        default_factory=list,
        description="StorageClasses named in each tenant's quota, each with the tenant's quota.storage (the total "
        "requests.storage bounds every class anyway).",
    )
    priority_classes: Annotated[list[DnsSubdomain], AfterValidator(_unique)] = Field(
        default_factory=list, description="PriorityClasses tenants' pods may use (none: pods without a PriorityClass only)."
    )


class TenantsFile(Model):
    """A tenants file: the platform's control plane and its tenants."""

    # Built directly (`TenantsFile(...)`, `model_validate`), it checks the rules across tenants
    # too and raises tenants.ConfigError when one fails; tenants.parse_tenants and load_tenants
    # report every mistake, of fields and rules alike, as one ConfigError with lines.

    control_plane: ControlPlane = Field(
        default_factory=ControlPlane, description="The platform's Istio control plane, when the file declares no meshes."
    )
    meshes: Optional[Annotated[list[Mesh], AfterValidator(_non_empty)]] = Field(
        None,
        description="Several meshes, each with its own control planes; the first is the platform mesh "
        "(it serves the observability add-ons). Without it, controlPlane is the one mesh.",
    )
    platform_identities: PlatformIdentities = Field(
        default_factory=PlatformIdentities, description="Users and groups exempt from the tenant admission policies."
    )
    observability: Observability = Field(
        default_factory=Observability, description="Observability add-ons on the control-plane gateway."
    )
    cluster: Cluster = Field(
        default_factory=Cluster, description="What the cluster offers tenants (storage, priority classes, JWKS hosts) and cert-manager."
    )
    removal: Removal = Field(
        default_factory=Removal, description="What removing a tenant does in its retained namespace (a tenant's own `removal` wins)."
    )
    tenants: list[Tenant] = Field(default_factory=list, description="The tenants, each isolated from the others.")

    def removal_of(self, tenant: Tenant) -> Removal:
        return tenant.removal or self.removal

    @model_validator(mode="after")
    def _rules_across_tenants(self, info: ValidationInfo) -> "TenantsFile":
        # Everything downstream trusts this model: no way to build one may skip the rules. A
        # ConfigError is no ValueError, so pydantic lets it through as it is.
        if not (info.context or {}).get(_RULES_CHECKED_BY_CALLER):
            from .loader import check_rules

            check_rules(self, "TenantsFile")
        return self


class InstallMethod(str, Enum):
    """How Istio itself is installed (`installMethod` in the stack settings)."""

    HELM = "helm"
    OPERATOR = "operator"
    SAIL = "sail"


class StackSettings(Model):
    """The stack's own configuration (`istio-multitenancy:*` in Pulumi.<stack>.yaml)."""

    tenants_file: str = Field(
        min_length=1, description="The tenants file, relative to the project (default: tenants/<stack>.yaml)."
    )
    install_method: InstallMethod = Field(
        InstallMethod.HELM,
        description="helm (Istio's Helm charts, current Istio), sail (the Sail operator) or operator (Istio 1.22-1.23 only).",
    )
    istio_version: Optional[Version] = Field(
        None, description="Istio version X.Y.Z (default: the newest the install method was validated with)."
    )
    chart_repository: Optional[str] = Field(
        None, description="helm: the chart repository, https:// or oci:// (default: Istio's official repository)."
    )
    chart_directory: Optional[str] = Field(
        None, description="helm: a local directory holding the charts base, istiod, gateway and cni, instead of a repository."
    )
    image_hub: Optional[str] = Field(None, description="helm: the image registry of istiod and the CNI agent (default: docker.io/istio).")
    sail_chart_repository: Optional[str] = Field(
        None, description="sail: the Sail operator's chart repository, https:// or oci:// (default: the Sail project's)."
    )
    sail_chart_directory: Optional[str] = Field(
        None, description="sail: the Sail operator's chart, as a local directory, instead of a repository."
    )
    gateway_api_crds: Optional[str] = Field(
        None,
        description="helm, for gateway-api tenants: the Gateway API CRDs (standard channel) to apply, as an https:// URL, "
        "a file or a directory of YAML files, or `preinstalled` when the cluster has them (default: the v1.5.1 "
        "release's standard-install.yaml).",
    )
    gateway_api_tcp_route_crd: Optional[str] = Field(
        None,
        description="helm, for gateway-api tenants that forward TCP: the experimental TCPRoute CRD, as an https:// URL, "
        "a file or a directory, or `preinstalled` (default: v1.5.1's config/crd/experimental TCPRoute CRD).",
    )
    kube_context: Optional[str] = Field(None, description="kubeconfig context (default: the current one).")
    # Pulumi hands a program its config as strings: `kubeClientQps: 200` arrives as "200".
    kube_client_qps: StackNumber = Field(
        KUBE_CLIENT_QPS,
        description="The Kubernetes provider's client rate: requests per second to the API server (default: "
        f"{KUBE_CLIENT_QPS}; the provider's own default is 50). docs/scale.md says why.",
    )
    kube_client_burst: StackNumber = Field(
        KUBE_CLIENT_BURST,
        description=f"The provider's client burst above that rate (default: {KUBE_CLIENT_BURST}; the provider's own is 120).",
    )
    tenant_shards: Optional[StackNumber] = Field(
        None,
        description="Split the installation into a platform stack and this many stacks of tenants, deployed by "
        "`python -m deploy` (default: 1 up to "
        f"{AUTO_SHARD_TENANTS} tenants, then one shard per {TENANTS_PER_SHARD}; docs/scale.md).",
    )
    shard: Optional[StackNumber] = Field(
        None,
        description="Set by `python -m deploy` on the stacks it derives: which shard of tenants this stack holds "
        "(1 to the shard count); never set by hand.",
    )
