"""`MultitenantMesh`: the whole program as one component, for Pulumi programs in other languages
(TypeScript, Go, ...) through the component package in `package/` (docs/library.md)."""

from pathlib import Path
from typing import Optional, TypedDict

import pulumi
from pulumi.runtime import settings as runtime_settings

from . import ConfigError, build_stack, load_settings


class MultitenantMeshArgs(TypedDict):
    tenants: str
    """The tenants file's content (YAML), as docs/tenants-file.md describes it."""
    settings: Optional[dict[str, str]]
    """Stack settings by key without the project prefix (installMethod, istioVersion, ...: docs/install-methods.md)."""
    kube_context: Optional[str]
    """The kubeconfig context (default: the settings' kubeContext, else the current one)."""


class MultitenantMesh(pulumi.ComponentResource):
    """Istio, its control planes, the tenant admission rules and one isolated mesh slice per tenant."""

    namespaces: pulumi.Output[dict[str, str]]
    """Each tenant's namespace, by tenant name."""

    def __init__(self, name: str, args: MultitenantMeshArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("istio-multitenancy:index:MultitenantMesh", name, None, opts)
        values = {"tenantsFile": f"{name}.tenants", **(args.get("settings") or {})}
        # Relative paths in the settings (a chart directory, CRD files) are the caller's, from its directory.
        try:
            settings = load_settings(name, values, Path.cwd(), shown=f"MultitenantMesh {name}", tenants_text=args["tenants"])
        except ConfigError as err:
            raise pulumi.RunError(str(err)) from None
        # Every resource the program registers without a parent becomes this component's child.
        token = runtime_settings.ROOT.set(self)
        try:
            build_stack(settings, context=args.get("kube_context"))
        finally:
            runtime_settings.ROOT.reset(token)
        self.namespaces = pulumi.Output.from_input({t.name: t.namespace_name for t in settings.tenants.tenants})
        self.register_outputs({"namespaces": self.namespaces})
