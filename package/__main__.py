"""The component provider Pulumi starts for `pulumi package add` and for programs that use it."""

import sys
from pathlib import Path

from pulumi.provider.experimental import component_provider_host

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from istio_multitenancy.package import MultitenantMesh  # noqa: E402

if __name__ == "__main__":
    component_provider_host(name="istio-multitenancy", components=[MultitenantMesh], version="0.1.0")
