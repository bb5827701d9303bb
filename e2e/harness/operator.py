"""What the Istio 1.23 operator does that the program waits for, on a cluster where it cannot run.

Under kwok no container runs: the operator's Deployment becomes Available (kwok reports its pod
Ready), but nothing reconciles `IstioOperator`s. This stand-in does the two things the program
depends on, and nothing else: before the first control plane reports HEALTHY it installs Istio's
CRDs (the operator installs them from the `base` component), and it sets `.status.status` to
HEALTHY through the status subresource, as the operator does once its components are ready. It
installs no istiod, gateways or webhooks (see e2e/README.md).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Optional

import yaml

from .kube import Kube

STATUS = {"status": {"status": "HEALTHY"}}


class OperatorStandIn(threading.Thread):
    def __init__(self, kube: Kube, istio_crds: dict[str, Path], interval: float = 0.3):
        super().__init__(name="istio-operator-stand-in", daemon=True)
        self.kube = kube
        self.istio_crds = istio_crds
        self.interval = interval
        self.stopping = threading.Event()
        # Cleared: IstioOperators stay un-HEALTHY, as while a real operator is still installing.
        self.running = threading.Event()
        self.running.set()
        self.healthy: list[str] = []
        self.errors: list[str] = []
        self._crds_installed: set[str] = set()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            if not self.running.is_set():
                continue
            try:
                with self._lock:
                    self._reconcile()
            except Exception as err:  # reported by the tests that rely on it, never silent
                self.errors.append(str(err))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)

    def _version(self) -> Optional[str]:
        """The operator's release, once its Deployment is Available (nothing reconciles before)."""
        deployment = self.kube.get("deployment", "istio-operator", "istio-operator")
        if not deployment or not (deployment.get("status") or {}).get("availableReplicas"):
            return None
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        return image.rsplit(":", 1)[-1]

    def install_crds(self, version: str) -> None:
        if version in self._crds_installed:
            return
        path = self.istio_crds.get(version)
        if path is None:
            raise RuntimeError(f"stand-in: no Istio CRDs for {version} (known: {sorted(self.istio_crds)})")
        crds = [d for d in yaml.safe_load_all(path.read_text()) if d]
        self.kube.apply(crds)
        names = [c["metadata"]["name"] for c in crds]
        self.kube("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in names))
        self._crds_installed.add(version)

    def uninstall_crds(self) -> None:
        with self._lock:
            self._uninstall_crds()

    def _uninstall_crds(self) -> None:
        for version in sorted(self._crds_installed):
            names = [d["metadata"]["name"] for d in yaml.safe_load_all(self.istio_crds[version].read_text()) if d]
            self.kube("delete", "crd", *names, "--ignore-not-found", "--wait=true", timeout=180)
        self._crds_installed.clear()

    def _reconcile(self) -> None:
        if not self.kube.has_kind("istiooperators.install.istio.io"):
            return
        for iop in self.kube.list("istiooperators.install.istio.io"):
            meta = iop["metadata"]
            if meta.get("deletionTimestamp") or (iop.get("status") or {}).get("status") == "HEALTHY":
                continue
            version = self._version()
            if version is None:
                return
            if (iop.get("spec") or {}).get("profile", "default") != "empty":
                self.install_crds(version)
            self.kube(
                "patch", "istiooperators.install.istio.io", meta["name"], "-n", meta["namespace"],
                "--subresource=status", "--type=merge", "-p", json.dumps(STATUS),
            )
            self.healthy.append(f"{meta['namespace']}/{meta['name']}")
