"""tests/istiooperator_schema.py: the strict IstioOperator schema, generated from Istio's protos."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests import reference as reference_data
from tests.istiooperator_schema import ProtoError, dumps, generate, lower_camel
from tests.support import reference

SHARED = ("istio", "istiooperator-1.23.6.schema.json")

OPERATOR = """
syntax = "proto3";
// A comment with message Fake { string x = 1; } in it is no message.
package istio.operator.v1alpha1;
option go_package="istio.io/api/operator/v1alpha1";
import "google/protobuf/struct.proto";

message IstioOperatorSpec {
  string profile = 10;
  google.protobuf.Value tag = 13;
  string resourceSuffix = 14 [deprecated = true];
  reserved 17;
  reserved "defaultRevision";
  google.protobuf.Struct values = 100;
  IstioComponentSetSpec components = 50;
  map<string, Status> statuses = 51;
}
message IstioComponentSetSpec {
  repeated istio.operator.v1alpha1.GatewaySpec ingressGateways = 40;
}
message GatewaySpec {
  google.protobuf.BoolValue enabled = 1;
  map <string, string> label = 4;
  repeated k8s.io.api.core.v1.Toleration tolerations = 5;
  optional string name = 6;
  /* a block
     comment */
  oneof port { int32 number = 7; string port_name = 8 [json_name = "portName"]; }
}
enum Status { NONE = 0; HEALTHY = 1; }
"""

VALUES = """
syntax = 'proto3';
package v1alpha1;
message Values {
  GatewaysConfig gateways = 1;
  int64 pods = 2;
  double traceSampling = 3;
  string psp_cluster_role = 4;
  Outer.Inner inner = 5;
}
message GatewaysConfig {
  GatewayConfig istio_ingressgateway = 4 [json_name="istio-ingressgateway"];
}
message GatewayConfig {
  google.protobuf.UInt32Value replicas = 1;
  google.protobuf.Any extra = 2;
  repeated google.protobuf.Struct additionalContainers = 3;
}
message Outer {
  message Inner { Mode mode = 1; }
  enum Mode { A = 0; }
}
"""


def test_messages_become_closed_objects_under_their_json_names():
    schema = generate(OPERATOR, VALUES)
    defs = schema["$defs"]
    assert set(defs) == {
        "op.IstioOperatorSpec", "op.IstioComponentSetSpec", "op.GatewaySpec",
        "values.Values", "values.GatewaysConfig", "values.GatewayConfig", "values.Outer", "values.Outer.Inner",
    }
    assert all(d["type"] == "object" and d["additionalProperties"] is False for d in defs.values())
    assert defs["values.GatewaysConfig"]["properties"] == {"istio-ingressgateway": {"$ref": "#/$defs/values.GatewayConfig"}}
    assert "pspClusterRole" in defs["values.Values"]["properties"]  # protoc's lowerCamelCase when no json_name
    gateway = defs["op.GatewaySpec"]["properties"]
    assert gateway["number"] == {"type": "integer"} and gateway["portName"] == {"type": "string"}  # oneof members
    assert gateway["name"] == {"type": "string"}  # proto3 optional


def test_maps_repeated_scalars_enums_and_well_known_types_take_their_json_forms():
    schema = generate(OPERATOR, VALUES)
    defs = schema["$defs"]
    spec = defs["op.IstioOperatorSpec"]["properties"]
    assert spec["tag"] == {} and spec["values"] == {"type": "object"}
    assert spec["statuses"] == {"type": "object", "additionalProperties": {"type": ["string", "integer"]}}
    assert spec["resourceSuffix"] == {"type": "string"}  # deprecated fields are still accepted
    assert "defaultRevision" not in spec  # reserved names are not fields
    gateway = defs["op.GatewaySpec"]["properties"]
    assert gateway["enabled"] == {"type": "boolean"}
    assert gateway["label"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert gateway["tolerations"] == {"type": "array", "items": {}}  # Kubernetes types are left unchecked
    assert defs["op.IstioComponentSetSpec"]["properties"]["ingressGateways"] == {
        "type": "array", "items": {"$ref": "#/$defs/op.GatewaySpec"},  # the package-qualified name resolves
    }
    values = defs["values.Values"]["properties"]
    assert values["pods"] == {"type": ["integer", "string"]} and values["traceSampling"] == {"type": "number"}
    assert values["inner"] == {"$ref": "#/$defs/values.Outer.Inner"}
    assert defs["values.Outer.Inner"]["properties"]["mode"] == {"type": ["string", "integer"]}  # enum of the outer scope
    config = defs["values.GatewayConfig"]["properties"]
    assert config == {
        "replicas": {"type": "integer"}, "extra": {}, "additionalContainers": {"type": "array", "items": {"type": "object"}},
    }


def test_the_values_tree_is_checked_only_when_values_types_proto_is_given():
    with_values = generate(OPERATOR, VALUES)
    spec = with_values["properties"]["spec"]
    assert spec["properties"]["values"] == {"$ref": "#/$defs/values.Values"}
    assert with_values["$defs"]["op.IstioOperatorSpec"]["properties"]["values"] == {"type": "object"}  # as operator.proto says
    without = generate(OPERATOR)
    assert without["properties"]["spec"]["properties"]["values"] == {"type": "object"}
    assert not any(name.startswith("values.") for name in without["$defs"])


def test_the_schema_rejects_unknown_fields_and_wrong_types():
    validator = jsonschema.Draft202012Validator(json.loads(dumps(generate(OPERATOR, VALUES))))
    good = {
        "apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": {"name": "x"},
        "spec": {
            "profile": "minimal", "tag": 1.23,
            "components": {"ingressGateways": [{"enabled": True, "label": {"app": "gw"}, "tolerations": [{"any": "thing"}]}]},
            "values": {"gateways": {"istio-ingressgateway": {"replicas": 2}}, "pods": "10", "inner": {"mode": "A"}},
        },
    }
    assert list(validator.iter_errors(good)) == []
    bad = json.loads(json.dumps(good))
    bad["spec"]["components"]["ingressGateways"][0]["debug"] = True
    bad["spec"]["values"]["gateways"]["istio-ingressgateway"]["replicas"] = "two"
    bad["spec"]["values"]["gateways"]["istio_ingressgateway"] = {}
    bad["kind"] = "Other"
    found = sorted(e.message for e in validator.iter_errors(bad))
    assert len(found) == 4, found
    assert any("'debug' was unexpected" in m for m in found) and any("'istio_ingressgateway' was unexpected" in m for m in found)


@pytest.mark.parametrize(
    "text, message",
    [
        ('syntax = "proto2"; message IstioOperatorSpec {}', r"operator.proto:1: only proto3"),
        ('syntax = "proto3";\nmessage IstioOperatorSpec {\n  Missing x = 1;\n}', r"IstioOperatorSpec.x: unknown type 'Missing'"),
        ('syntax = "proto3";\nmessage IstioOperatorSpec {\n  string x = ;\n}', r"operator.proto:3: field x: expected its number"),
        ('syntax = "proto3";\nmessage IstioOperatorSpec {\n  string x = 1;', r"message IstioOperatorSpec is not closed"),
        ('syntax = "proto3";\nmessage IstioOperatorSpec { google.protobuf.Mystery m = 1; }', r"no JSON form known for google.protobuf.Mystery"),
        ('syntax = "proto3";\nmessage IstioOperatorSpec { string a_b = 1; string aB = 2; }', r"two fields have the JSON name 'aB'"),
    ],
)
def test_what_the_parser_does_not_understand_is_an_error_naming_where(text, message):
    with pytest.raises(ProtoError, match=message):
        generate(text)


def test_json_names_follow_protoc():
    assert [lower_camel(n) for n in ("resource_quotas", "psp_cluster_role", "s390x", "meshID", "a__b", "x_1")] == [
        "resourceQuotas", "pspClusterRole", "s390x", "meshID", "aB", "x1",
    ]


# --- Against the shared copy (../shared/reference, or the cache a fresh clone generated it into) ----


def test_from_operator_proto_the_spec_components_and_kubernetes_settings_are_the_shared_ones():
    generated = generate(reference(reference_data.ISTIO_OPERATOR_PROTO).read_text(encoding="utf-8"))
    shared = json.loads(reference(*SHARED).read_text(encoding="utf-8"))
    assert generated["$defs"] == {name: d for name, d in shared["$defs"].items() if name.startswith("op.")}
    # All but the values tree, which values_types.proto describes.
    del generated["$defs"], shared["$defs"]
    assert generated["properties"]["spec"]["properties"].pop("values") == {"type": "object"}
    assert shared["properties"]["spec"]["properties"].pop("values") == {"$ref": "#/$defs/values.Values"}
    assert generated == shared


def test_the_schema_is_written_as_the_shared_copy_is():
    # A fresh clone's generated copy is checked by the sha256 of the shared one's bytes.
    shared = reference(*SHARED).read_text(encoding="utf-8")
    assert dumps(json.loads(shared)) == shared


def test_from_both_protos_the_schema_is_the_shared_one_byte_for_byte():
    operator = reference(reference_data.ISTIO_OPERATOR_PROTO)
    try:
        values = reference(reference_data.ISTIO_VALUES_PROTO)
    except reference_data.ReferenceMissing as err:
        if reference_data.root() == reference_data.shared_dir():
            # Nothing else needs the proto while the shared copy holds the schema; without it, the
            # schema itself is missing and the tests that read it fail in one line.
            pytest.skip(f"{err}; nothing else needs it while ../shared/reference holds the schema")
        raise
    text = dumps(generate(operator.read_text(encoding="utf-8"), values.read_text(encoding="utf-8")))
    shared = reference(*SHARED)
    assert json.loads(text) == json.loads(shared.read_text(encoding="utf-8"))
    assert text.encode("utf-8") == shared.read_bytes()  # so that a fresh clone's generated copy has the listed sha256
