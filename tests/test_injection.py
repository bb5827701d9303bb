"""Every gateway the Helm path deploys is injected: its chart's pods carry image `auto`, which only
istiod's injection webhook replaces, and each webhook selects pods by namespace and pod labels."""

from __future__ import annotations

import pytest
import yaml

from render.engine import PROJECT_ROOT

DEV = yaml.safe_load((PROJECT_ROOT / "tenants" / "dev.yaml").read_text())


def _matches(selector: dict | None, labels: dict) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against `labels`."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or ():
        key, op, values = e["key"], e["operator"], e.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _injecting_webhooks(objects: list[dict], namespace: dict, pod_labels: dict) -> list[str]:
    ns_labels = {**(namespace["metadata"].get("labels") or {}), "kubernetes.io/metadata.name": namespace["metadata"]["name"]}
    return [
        hook["name"]
        for config in objects if config["kind"] == "MutatingWebhookConfiguration"
        for hook in config.get("webhooks") or ()
        if "sidecar-injector" in hook["name"]
        and _matches(hook.get("namespaceSelector"), ns_labels) and _matches(hook.get("objectSelector"), pod_labels)
    ]


def test_the_platform_gateway_and_tenant_gateways_are_injected(tmp_path):
    from render.charts import helm_binary
    from tests.test_diff import _expanded_render

    helm = helm_binary()
    if helm is None:
        pytest.skip("no helm (set HELM_BIN or put helm on PATH)")
    out = _expanded_render(tmp_path, "dev", DEV, helm)
    objects = [o for o in yaml.safe_load_all((out / "manifests.yaml").read_text()) if o]
    namespaces = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Namespace"}
    gateways = [o for o in objects if o["kind"] == "Deployment"
                and o["spec"]["template"]["spec"]["containers"][0].get("image") == "auto"]
    # The platform's gateway and the chart-deployed tenant gateways (a Gateway API tenant's is Istio's).
    tenant_namespaces = {ns for ns, o in namespaces.items() if "istio-multitenancy.io/tenant" in (o["metadata"].get("labels") or {})}
    deployed_in = {g["metadata"]["namespace"] for g in gateways}
    assert "istio-system" in deployed_in and deployed_in & tenant_namespaces, deployed_in
    for gateway in gateways:
        ns = gateway["metadata"]["namespace"]
        hooks = _injecting_webhooks(objects, namespaces[ns], gateway["spec"]["template"]["metadata"].get("labels") or {})
        assert hooks, f"{ns}/{gateway['metadata']['name']} is not selected by any injection webhook: its image stays 'auto'"
