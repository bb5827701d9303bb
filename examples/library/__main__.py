"""istio-multitenancy as a library: a Pulumi program of your own that builds the mesh from a tenants file.

Run it like any Pulumi program (`pulumi up` in this directory), with istio-multitenancy installed
(`pip install <the repository>`, docs/library.md); from a clone, it is found two levels up.
"""

import sys
from pathlib import Path

import pulumi

try:
    import istio_multitenancy as mt
except ImportError:  # not installed: this clone's own
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import istio_multitenancy as mt

try:
    # Every rule, within and across tenants (a mistake is one error listing them all, with lines),
    # and the stack settings' defaults: Istio's newest validated release from its Helm charts.
    settings = mt.load_settings(pulumi.get_stack(), {"tenantsFile": "tenants.yaml"}, Path(__file__).parent)
except mt.ConfigError as err:
    raise pulumi.RunError(str(err)) from None

# Everything the stack's own program registers, for the current kubeconfig context (`context=`
# names another; `provider=` takes a kubernetes.Provider of your own).
stack = mt.build_stack(settings)
for key, value in stack.outputs.items():
    pulumi.export(key, value)
