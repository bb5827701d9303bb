"""Typed model of a tenants file.

Field-level rules live here (pydantic validators); rules that compare tenants with
each other live in `tenants.rules`. Everything downstream trusts these objects.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kubernetes qualified names: label keys (optional DNS-1123 subdomain prefix) and values.
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOSTNAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def _fail(kind: str, message: str, **context: Any) -> PydanticCustomError:
    # Formatted here: pydantic's own templates know no `!r`.
    return PydanticCustomError(kind, "{message}", {"message": message.format(**context)})


def _dns_label(value: Any) -> str:
    if not isinstance(value, str):
        raise _fail("dns_label", "{value!r} is not a string (a DNS-1123 label is expected)", value=value)
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        raise _fail(
            "dns_label",
            "{value!r} is not a DNS-1123 label (lower case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)",
            value=value,
        )
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail("port", "{value!r} is not a port (1-65535)", value=value)
    return value


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail("positive_int", "{value!r} is not a whole number of at least 1", value=value)
    return value


def _label_key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        raise _fail("label_key", "label key {key!r} has an invalid prefix (a DNS-1123 subdomain)", key=key)
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        raise _fail(
            "label_key",
            "label key {key!r} is not a Kubernetes label key (an optional DNS subdomain prefix and '/', "
            "then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)",
            key=key,
        )
    return key


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _fail("labels", "labels must be a mapping of label keys to values")
    if not value:
        raise _fail("labels", "labels must not be empty: an empty selector would match every gateway")
    for key, label in value.items():
        if not isinstance(key, str):
            raise _fail("label_key", "label key {key!r} is not a string", key=key)
        _label_key(key)
        if not isinstance(label, str):
            raise _fail("label_value", "label {key!r}: value {value!r} is not a string (quote it)", key=key, value=label)
        if len(label) > 63 or (label and not _LABEL_NAME.match(label)):
            raise _fail(
                "label_value",
                "label {key!r}: {value!r} is not a Kubernetes label value (at most 63 letters, digits, "
                "'-', '_' or '.', starting and ending with a letter or digit)",
                key=key,
                value=label,
            )
    return dict(value)


def _host(value: Any) -> str:
    """Istio host syntax: `*`, `*.example.com`, `example.com`, optionally `namespace/host`."""
    if not isinstance(value, str):
        raise _fail("host", "{value!r} is not a host name", value=value)
    namespace, _, host = value.rpartition("/")
    if "://" in value or ":" in host or (namespace and namespace not in (".", "*") and not DNS1123_LABEL.match(namespace)):
        raise _fail(
            "host",
            "{value!r} is not an Istio host: use '*', '*.example.com' or 'example.com', optionally "
            "'namespace/host'; no scheme, path or port",
            value=value,
        )
    if host != "*" and (value.count("/") > 1 or len(host) > 253 or not _HOSTNAME.match(host)):
        raise _fail(
            "host",
            "{value!r} is not an Istio host: use '*', '*.example.com' or 'example.com', optionally "
            "'namespace/host'; no scheme, path or port",
            value=value,
        )
    return value


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not _QUANTITY.match(str(value)):
        raise _fail("quantity", "{value!r} is not a Kubernetes quantity (for example 500m, 2, 4Gi)", value=value)
    return str(value)


def _version(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d+\.\d+\.\d+", value):
        raise _fail("version", "{value!r} is not a version X.Y.Z", value=value)
    return value


def _dns_subdomain(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 253 or not _DNS1123_SUBDOMAIN.match(value):
        raise _fail(
            "dns_subdomain",
            "{value!r} is not a DNS-1123 subdomain (lower case letters, digits, '-' and '.')",
            value=value,
        )
    return value


DnsLabel = Annotated[str, BeforeValidator(_dns_label)]
DnsSubdomain = Annotated[str, BeforeValidator(_dns_subdomain)]
Port = Annotated[int, BeforeValidator(_port)]
PositiveInt = Annotated[int, BeforeValidator(_positive_int)]
Labels = Annotated[dict[str, str], BeforeValidator(_labels)]
Host = Annotated[str, BeforeValidator(_host)]
Quantity = Annotated[str, BeforeValidator(_quantity)]
Version = Annotated[str, BeforeValidator(_version)]


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
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    HTTP2 = "HTTP2"
    GRPC = "GRPC"
    TCP = "TCP"
    TLS = "TLS"


class TlsMode(str, Enum):
    SIMPLE = "SIMPLE"
    MUTUAL = "MUTUAL"
    PASSTHROUGH = "PASSTHROUGH"
    ISTIO_MUTUAL = "ISTIO_MUTUAL"
    OPTIONAL_MUTUAL = "OPTIONAL_MUTUAL"


class Replicas(Model):
    pilot: Optional[PositiveInt] = Field(None, description="istiod replicas (default: the profile's).")
    ingress_gateway: Optional[PositiveInt] = Field(None, description="Control-plane ingress gateway replicas.")


class ControlPlane(Model):
    """The platform's Istio control plane (one mesh)."""

    name: DnsLabel = Field("platform-istiocontrolplane", description="Name of the IstioOperator CR.")
    namespace: DnsLabel = Field("istio-system", description="Control-plane namespace.")
    profile: str = Field("demo", description="IstioOperator profile of the control plane.")
    replicas: Replicas = Field(default_factory=Replicas)


class Addons(Model):
    kiali: bool = True
    grafana: bool = True
    prometheus: bool = True
    tracing: bool = True


class Observability(Model):
    domain: Annotated[str, BeforeValidator(_host)] = Field(
        "example.com", description="Add-ons are served on <addon>.<domain> through the control-plane gateway."
    )
    addons: Addons = Field(default_factory=Addons, description="Switch each add-on's route on or off.")


class Tls(Model):
    mode: TlsMode
    credential_name: Optional[DnsSubdomain] = Field(
        None, description="Secret in the tenant's namespace holding the certificate (not for PASSTHROUGH)."
    )
    issuer: Optional[DnsSubdomain] = Field(
        None, description="cert-manager ClusterIssuer: when set, a Certificate is requested for the server's hosts."
    )


class Server(Model):
    port: Port
    protocol: Protocol = Protocol.HTTP
    hosts: Annotated[list[Host], AfterValidator(_non_empty), AfterValidator(_unique)] = Field(default_factory=lambda: ["*"])
    name: Optional[DnsLabel] = Field(None, description="Port name (default: <protocol>-<port>).")
    tls: Optional[Tls] = None

    @property
    def port_name(self) -> str:
        return self.name or f"{self.protocol.value.lower()}-{self.port}"


def _default_servers() -> list[Server]:
    return [Server(port=80, protocol=Protocol.HTTP, hosts=["*"])]


class Gateway(Model):
    name: Optional[DnsLabel] = Field(None, description="Gateway deployment/service name (default: <tenant>-ingressgw).")
    labels: Optional[Labels] = Field(
        None, description="Gateway pod labels, and the Gateway selector (default: istio/app ingressgateway-<tenant>)."
    )
    servers: Annotated[list[Server], AfterValidator(_non_empty)] = Field(default_factory=_default_servers)
    replicas: Optional[PositiveInt] = Field(None, description="Gateway replicas (default: the operator's, 1).")


class UriMatch(Model):
    exact: Optional[str] = None
    prefix: Optional[str] = None
    regex: Optional[str] = None

    def model_post_init(self, _context: Any) -> None:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) != 1:
            raise ValueError("a match needs exactly one of exact, prefix or regex")


class Destination(Model):
    service: DnsLabel = Field(description="Service name in the tenant's namespace.")
    port: Port


class HttpRoute(Model):
    match: list[UriMatch] = Field(default_factory=list, description="URI matches; none matches every request.")
    to: Destination


class Route(Model):
    name: DnsLabel
    hosts: Optional[Annotated[list[Host], AfterValidator(_non_empty), AfterValidator(_unique)]] = Field(
        None, description="Hosts this route answers (default: every host the gateway serves)."
    )
    http: Annotated[list[HttpRoute], AfterValidator(_non_empty)]


class Admins(Model):
    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class Quota(Model):
    cpu: Quantity = Field("4", description="requests.cpu and limits.cpu in the tenant's namespace.")
    memory: Quantity = Field("8Gi", description="requests.memory and limits.memory in the tenant's namespace.")
    pods: PositiveInt = Field(50, description="Maximum pods in the tenant's namespace.")


class Export(Model):
    service: DnsLabel
    to: Annotated[list[DnsLabel], AfterValidator(_non_empty), AfterValidator(_unique)]


class Import(Model):
    tenant: DnsLabel
    service: DnsLabel


class Tenant(Model):
    name: DnsLabel
    namespace: Optional[DnsLabel] = Field(None, description="Tenant namespace (default: the tenant name).")
    gateway: Gateway = Field(default_factory=Gateway)
    routes: list[Route] = Field(default_factory=list)
    admins: Admins = Field(default_factory=Admins)
    quota: Quota = Field(default_factory=Quota)
    exports: list[Export] = Field(default_factory=list)
    imports: list[Import] = Field(default_factory=list)
    decommission: bool = Field(
        False, description="Allow the namespace to be deleted when the tenant is removed from the file."
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
    def served_hosts(self) -> list[str]:
        hosts: list[str] = []
        for server in self.gateway.servers:
            hosts.extend(h for h in server.hosts if h not in hosts)
        return hosts

    def route_hosts(self, route: Route) -> list[str]:
        return route.hosts or self.served_hosts


class TenantsFile(Model):
    control_plane: ControlPlane = Field(default_factory=ControlPlane)
    observability: Observability = Field(default_factory=Observability)
    tenants: list[Tenant] = Field(default_factory=list)


class StackSettings(Model):
    """The stack's own configuration (Pulumi.<stack>.yaml), validated like the tenants file."""

    stack: str
    tenants_file: str
    istio_version: Version = "1.23.6"
    kube_context: Optional[str] = None
