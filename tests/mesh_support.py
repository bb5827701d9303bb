"""Upstream facts the mesh tests compare with: Istio's multiple-control-planes guide, the istiod
chart's revision-tag templates, and the Sail operator's CRDs and chart."""

from __future__ import annotations

import functools
import re
import textwrap

import jsonschema
import yaml

from tests.support import SAIL_CHART, _sail_schemas, reference

ISTIOD_CHART = ("istio", "1.30.3", "charts", "istiod")


# --- Istio's guide: docs/setup/install/multiple-controlplanes ----------------------------


def guide_text() -> str:
    return reference("istio", "docs", "multiple-controlplanes.md").read_text()


def guide_istio_operators() -> list[dict]:
    """The IstioOperators the guide installs, one per usergroup."""
    blocks = re.findall(r"istioctl install -y -f - <<EOF\n(.*?)\n\s*EOF", guide_text(), re.S)
    return [yaml.safe_load(textwrap.dedent(block)) for block in blocks]


def guide_namespace_labels() -> dict[str, dict[str, str]]:
    """Namespace -> the labels the guide's `kubectl label ns` commands give it."""
    labels: dict[str, dict[str, str]] = {}
    for names, pairs in re.findall(r"\$ kubectl label ns (\S+) (.+)", guide_text()):
        labels.setdefault(names, {}).update(pair.split("=", 1) for pair in pairs.split())
    return labels


# --- The istiod chart's values and revision-tag templates --------------------------------


@functools.lru_cache(maxsize=None)
def istiod_chart_keys() -> dict:
    """The istiod chart's values.yaml with its `_internal_defaults_do_not_set` flattened to the
    top, as the chart's zzz_profile.yaml template merges them."""
    values = yaml.safe_load(reference(*ISTIOD_CHART, "values.yaml").read_text())
    defaults = values.pop("_internal_defaults_do_not_set")
    return {**defaults, **values}


def unknown_keys(values: dict, known: dict, path: str = "") -> list[str]:
    """Keys of `values` that `known` lacks; below a key whose default is an empty map or a map
    the chart passes through (meshConfig), anything goes."""
    out = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in known:
            out.append(where)
        elif isinstance(value, dict) and isinstance(known[key], dict) and known[key] and key != "meshConfig":
            out += unknown_keys(value, known[key], where)
    return out


def _tag_template(tag: str, revision: str, namespace: str) -> str:
    text = reference(*ISTIOD_CHART, "templates", "revision-tags-mwc.yaml").read_text()
    text = re.sub(r"{{- /\*.*?\*/}}\n?", "", text, flags=re.S)  # template comments
    return text.replace("{{ $tagName }}", tag)


def chart_tag_webhooks(tag: str, revision: str, namespace: str) -> list[dict]:
    """The webhooks revision-tags-mwc.yaml renders for a tag other than `default`, with the
    chart's default values (no injection URL, path /inject, reinvocationPolicy Never)."""
    text = _tag_template(tag, revision, namespace)
    core = re.search(r'{{- define "core" }}\n(.*?)\n{{- end }}', text, re.S).group(1)
    core = re.sub(r"\s*{{- if \.injectionURL }}.*?{{- else }}", "", core, flags=re.S)
    core = core.replace("\n    {{- end }}", "")
    # Istio's default revision is the release without a revision: `.revision` is "" there.
    istiod = "istiod" if revision == "default" else f"istiod-{revision}"
    core = core.replace('istiod{{- if not (eq .revision "") }}-{{ .revision }}{{- end }}', istiod)
    core = core.replace("{{ .namespace }}", namespace).replace("{{ .injectionPath }}", "/inject")
    core = core.replace("{{ .reinvocationPolicy }}", "Never")
    body = text.split("webhooks:\n", 1)[1].split('{{- if (eq $tagName "default") }}', 1)[0]
    webhooks = []
    for prefix, selectors in re.findall(r'{{- include "core" .*?"Prefix" "([^"]+)".*?}}\n(.*?)(?={{- include|\Z)', body, re.S):
        selectors = "\n".join(line for line in selectors.splitlines() if not line.lstrip().startswith("{{"))
        (webhook,) = yaml.safe_load(core.replace("{{.Prefix}}", prefix) + "\n" + selectors)
        webhooks.append(webhook)
    return webhooks


def chart_tag_service_spec(tag: str, revision: str) -> dict:
    """spec of revision-tags-svc.yaml's Service, for a revisioned istiod and no IP family settings."""
    text = reference(*ISTIOD_CHART, "templates", "revision-tags-svc.yaml").read_text()
    spec = text.split("spec:\n", 1)[1].split("{{- if $.Values.ipFamilyPolicy }}", 1)[0]
    # The revisioned branch of `if ne $.Values.revision ""`.
    spec = re.sub(r' *{{- if ne \$\.Values\.revision "" }}\n(.*?) *{{- else }}.*?{{- end }}\n', r"\1", spec, flags=re.S)
    spec = spec.replace("{{ $.Values.revision | quote }}", f'"{revision}"')
    assert "{{" not in spec, spec
    return yaml.safe_load(spec)


# --- The Sail operator: its CRDs and chart ------------------------------------------------


def sail_meshconfig_validator() -> jsonschema.Draft7Validator:
    """Istio's MeshConfig as the Sail CRD spells it (spec.values.meshConfig), unknown fields rejected."""
    istio = _sail_schemas()[("sailoperator.io/v1", "Istio")]
    return jsonschema.Draft7Validator(istio["properties"]["spec"]["properties"]["values"]["properties"]["meshConfig"])


def sail_chart_istio_versions() -> list[str]:
    """The Istio versions the Sail chart ships images for (its deployment's `images.v1_X_Y.*` annotations)."""
    values = yaml.safe_load(reference(*SAIL_CHART, "values.yaml").read_text())
    found = {re.fullmatch(r"images\.v(\d+)_(\d+)_(\d+)\.istiod", key) for key in values["deployment"]["annotations"]}
    return sorted((".".join(m.groups()) for m in found if m), key=lambda v: tuple(map(int, v.split("."))))
