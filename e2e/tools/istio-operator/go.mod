// The Istio 1.23.6 operator (optional): the Go proxy refuses this commit, so nothing pins its
// dependencies yet (no go.sum); e2e/tools/build records the refusal and goes on.
module istio-multitenancy/e2e/tools/istio-operator

go 1.26.0

require istio.io/istio v0.0.0-20250403050546-6a112a284106

replace github.com/imdario/mergo => github.com/imdario/mergo v0.3.5

tool istio.io/istio/operator/cmd/operator
