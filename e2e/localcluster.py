"""A throw-away Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and kwok for fake nodes and pods. Standard library only (and `openssl`).

Every port is chosen free at start, every file lives under build/e2e/, readiness is polled and
never slept on, and every process runs in its own process group recorded in a state file, so
`down` (and an `up` after a crash) can stop all of it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("E2E_BUILD_DIR", ROOT / "build" / "e2e")).resolve()
BIN = BUILD / "bin"
DATA = BUILD / "cluster"
KUBECONFIG = BUILD / "kubeconfig"
STATE = DATA / "state.json"
STAGES = Path(__file__).resolve().parent / "kwok" / "stages.yaml"
CONTEXT = "e2e"
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl")
NODES = int(os.environ.get("E2E_NODES", "2"))
# The API server is the slowest to start on a busy 2-core machine (its post-start hooks
# bootstrap RBAC and priority levels); the others follow in seconds.
START_TIMEOUT = float(os.environ.get("E2E_START_TIMEOUT", "180"))


class ClusterError(Exception):
    """One line for the user: what failed and how to fix it."""


@dataclass
class Pki:
    ca: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if not os.access(BIN / tool, os.X_OK)]


def _free_ports(count: int) -> list[int]:
    """Ports the kernel hands out, all held open together so that none is handed out twice."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {result.stderr.strip().splitlines()[-1:]}")


def _pki(folder: Path) -> Pki:
    """A CA, the API server's serving certificate, an admin client certificate (system:masters)
    and the service-account key pair. EC keys: fast to make, accepted by every component."""
    if shutil.which("openssl") is None:
        raise ClusterError("openssl not found on PATH: install it (Debian: apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    p = Pki(*(folder / name for name in ("ca.crt", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key", "sa.key", "sa.pub")))
    ca_key = folder / "ca.key"
    for key in (ca_key, p.serving_key, p.admin_key, p.sa_key):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    _openssl("pkey", "-in", str(p.sa_key), "-pubout", "-out", str(p.sa_pub))
    _openssl("req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=e2e-cluster-ca", "-days", "30", "-out", str(p.ca))
    sans = ",".join([
        "IP:127.0.0.1", "IP:10.96.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local",
    ])
    for key, cert, subject, usage, ext in (
        (p.serving_key, p.serving_cert, "/CN=kube-apiserver", "serverAuth", f"subjectAltName={sans}"),
        (p.admin_key, p.admin_cert, "/O=system:masters/CN=e2e-admin", "clientAuth", None),
    ):
        csr = cert.with_suffix(".csr")
        _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        extfile = cert.with_suffix(".ext")
        extfile.write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage={usage}\n" + (f"{ext}\n" if ext else "")
        )
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(p.ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", "30", "-extfile", str(extfile), "-out", str(cert),
        )
    return p


def _kubeconfig(server: str, pki: Pki, embed: bool) -> str:
    """Embedded for people and tests (one self-contained file); by path for the components."""

    def field(name: str, path: Path) -> str:
        if embed:
            return f"{name}-data: {base64.b64encode(path.read_bytes()).decode()}"
        return f"{name}: {path}"

    return f"""apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: {server}
    {field('certificate-authority', pki.ca)}
users:
- name: {CONTEXT}-admin
  user:
    {field('client-certificate', pki.admin_cert)}
    {field('client-key', pki.admin_key)}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}-admin
current-context: {CONTEXT}
"""


# --- processes -------------------------------------------------------------------------------


def _load_state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _save_state(state: dict) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    tmp = STATE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(STATE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child that has not been reaped) is not running.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _strays() -> list[int]:
    """Processes whose command line names this cluster's data folder: ours, even when the state
    file is gone (every component is given a path under it)."""
    marker = str(DATA) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(marker.encode() in arg for arg in args[1:]) and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_all(quiet: bool = False) -> list[str]:
    """Stop every recorded component (newest first) and any stray; SIGKILL after a grace period."""
    state = _load_state()
    processes = state.get("processes", [])
    stopped = []
    for proc in reversed(processes):
        pid = proc["pid"]
        if _alive(pid):
            _signal_group(pid, signal.SIGTERM)
            if not _wait_until(lambda: not _alive(pid), 15):
                _signal_group(pid, signal.SIGKILL)
                _wait_until(lambda: not _alive(pid), 5)
            stopped.append(proc["name"])
    for pid in _strays():
        _signal_group(pid, signal.SIGKILL)
        _wait_until(lambda: not _alive(pid), 5)
        stopped.append(f"stray pid {pid}")
    if STATE.exists():
        STATE.unlink()
    if not quiet and stopped:
        print(f"stopped: {', '.join(stopped)}")
    return stopped


def _start(state: dict, name: str, args: list[str]) -> subprocess.Popen:
    logs = DATA / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"{name}.log", "wb")
    try:
        proc = subprocess.Popen(
            [str(BIN / name), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=DATA,
            # Its own process group: `down` stops it and anything it spawned, and a Ctrl-C in the
            # terminal that ran `up` does not reach it.
            start_new_session=True,
        )
    finally:
        log.close()
    state.setdefault("processes", []).append({"name": name, "pid": proc.pid})
    _save_state(state)
    return proc


def _log_tail(name: str) -> str:
    path = DATA / "logs" / f"{name}.log"
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "no log"
    return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {lines[-1][:300] if lines else 'empty'}"


def _await(name: str, proc: subprocess.Popen, check: Callable[[], bool], what: str) -> None:
    def ready() -> bool:
        if proc.poll() is not None:
            raise ClusterError(f"{name} exited with code {proc.returncode} ({_log_tail(name)})")
        return check()

    if not _wait_until(ready, START_TIMEOUT):
        raise ClusterError(f"{name} not {what} after {START_TIMEOUT:.0f} s ({_log_tail(name)})")


def hold(name: str, paused: bool) -> None:
    """Pause (SIGSTOP) or resume a component: with kwok paused, no new pod becomes Ready, as
    during a slow rollout. Keep it short: paused kwok renews no node lease either."""
    for proc in _load_state().get("processes", []):
        if proc["name"] == name and _alive(proc["pid"]):
            _signal_group(proc["pid"], signal.SIGSTOP if paused else signal.SIGCONT)
            return
    raise ClusterError(f"{name} is not running")


# --- talking to the API server ---------------------------------------------------------------


class Api:
    """Just enough of a client for start-up: GET and POST with the admin certificate."""

    def __init__(self, server: str, pki: Pki):
        self.server = server
        self.context = ssl.create_default_context(cafile=str(pki.ca))
        self.context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))

    def request(self, method: str, path: str, body: Optional[dict] = None) -> tuple[int, dict | str]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=10) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
            return 0, ""

    def ok(self, path: str) -> bool:
        return self.request("GET", path)[0] == 200


def _decode(raw: bytes) -> dict | str:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _http_ok(url: str, insecure: bool = False) -> bool:
    context = ssl._create_unverified_context() if insecure else None  # self-signed health endpoints
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
        return False


KEEPER = "e2e-keep-configmap-params"


def configmap_param_keeper() -> list[tuple[str, dict]]:
    """(API path, object) of the e2e cluster's inert ConfigMap-parameter pair
    (builders/admission_keeper.py): the suite deploys and removes the program's admission policies
    several times per session (kubernetes/kubernetes#130887); this pair, bound from the start and
    never removed, keeps the API server resolving their parameters."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from builders.admission_keeper import param_keeper

    policy, binding = param_keeper(KEEPER, KEEPER, "kube-system")
    admission = "/apis/admissionregistration.k8s.io/v1"
    return [(f"{admission}/validatingadmissionpolicies", policy), (f"{admission}/validatingadmissionpolicybindings", binding)]


def _keep_configmap_params(api: "Api") -> None:
    for path, obj in configmap_param_keeper():
        code, body = api.request("POST", path, obj)
        if code not in (201, 409):
            raise ClusterError(f"could not create {obj['kind']} {KEEPER}: HTTP {code} {str(body)[:200]}")


def _node(index: int) -> dict:
    name = f"kwok-node-{index}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
        "status": {
            "addresses": [{"type": "InternalIP", "address": f"10.0.0.{index + 1}"}, {"type": "Hostname", "address": name}],
            "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi"},
        },
    }


def _nodes_ready(api: Api) -> bool:
    status, body = api.request("GET", "/api/v1/nodes")
    if status != 200 or not isinstance(body, dict):
        return False
    ready = [
        n for n in body.get("items", [])
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in n.get("status", {}).get("conditions", []))
    ]
    return len(ready) >= NODES


# --- commands --------------------------------------------------------------------------------


def status() -> tuple[bool, str]:
    state = _load_state()
    if not state:
        return False, "down"
    dead = [p["name"] for p in state.get("processes", []) if not _alive(p["pid"])]
    if dead:
        return False, f"broken: {', '.join(dead)} not running (run `e2e/cluster down`, then `up`)"
    try:
        pki = Pki(**{k: Path(v) for k, v in state["pki"].items()})
        api = Api(state["server"], pki)
    except (KeyError, OSError, ssl.SSLError):
        return False, "broken: unreadable state (run `e2e/cluster down`, then `up`)"
    if not api.ok("/readyz"):
        return False, f"broken: {state['server']} not ready"
    return True, f"up: {state['server']} ({len(state['processes'])} processes), KUBECONFIG={KUBECONFIG}"


def up() -> str:
    missing = missing_tools()
    if missing:
        raise ClusterError(f"missing tools in {BIN}: {', '.join(missing)}: run `make e2e-tools`")
    running, _ = status()
    if running:
        return f"already up: {_load_state()['server']}, KUBECONFIG={KUBECONFIG}"
    # Whatever a crashed or interrupted run left: processes first, then files.
    stop_all(quiet=True)
    shutil.rmtree(DATA, ignore_errors=True)
    if KUBECONFIG.exists():
        KUBECONFIG.unlink()
    DATA.mkdir(parents=True)

    state: dict = {}
    try:
        return _up(state)
    except BaseException:
        stop_all(quiet=True)
        if KUBECONFIG.exists():
            KUBECONFIG.unlink()
        raise


def _up(state: dict) -> str:
    pki = _pki(DATA / "pki")
    etcd_client, etcd_peer, apiserver, kcm, scheduler, kwok = _free_ports(6)
    server = f"https://127.0.0.1:{apiserver}"
    state.update(server=server, pki={k: str(v) for k, v in vars(pki).items()})
    _save_state(state)
    components_kubeconfig = DATA / "components.kubeconfig"
    components_kubeconfig.write_text(_kubeconfig(server, pki, embed=False))

    etcd_url = f"http://127.0.0.1:{etcd_client}"
    peer_url = f"http://127.0.0.1:{etcd_peer}"
    proc = _start(state, "etcd", [
        "--name=e2e",
        f"--data-dir={DATA / 'etcd'}",
        f"--listen-client-urls={etcd_url}",
        f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=e2e={peer_url}",
        # A test cluster thrown away after the run: durability buys nothing, fsync costs seconds.
        "--unsafe-no-fsync",
        "--auto-compaction-retention=1",
        "--log-level=warn",
    ])
    _await("etcd", proc, lambda: _http_ok(f"{etcd_url}/health"), "healthy")

    proc = _start(state, "kube-apiserver", [
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={apiserver}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca}",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        # No istiod runs under kwok: Istio's injection webhook (failurePolicy Fail) would refuse
        # every pod. ValidatingAdmissionPolicy (in-process, no webhook) stays on.
        "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
        # A loopback address is not a valid endpoint of the `kubernetes` Service.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
    ])
    api = Api(server, pki)
    _await("kube-apiserver", proc, lambda: api.ok("/readyz"), "ready")

    kubeconfig_flags = [f"--{flag}={components_kubeconfig}" for flag in ("kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig")]
    procs = {
        "kube-controller-manager": (_start(state, "kube-controller-manager", [
            *kubeconfig_flags,
            "--bind-address=127.0.0.1",
            f"--secure-port={kcm}",
            f"--cert-dir={DATA / 'kube-controller-manager'}",
            f"--root-ca-file={pki.ca}",
            f"--service-account-private-key-file={pki.sa_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--leader-elect=false",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--profiling=false",
        ]), f"https://127.0.0.1:{kcm}/healthz"),
        "kube-scheduler": (_start(state, "kube-scheduler", [
            *kubeconfig_flags,
            "--bind-address=127.0.0.1",
            f"--secure-port={scheduler}",
            f"--cert-dir={DATA / 'kube-scheduler'}",
            "--leader-elect=false",
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--profiling=false",
        ]), f"https://127.0.0.1:{scheduler}/healthz"),
        "kwok": (_start(state, "kwok", [
            f"--kubeconfig={components_kubeconfig}",
            f"--config={STAGES}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16",
            f"--server-address=127.0.0.1:{kwok}",
        ]), f"http://127.0.0.1:{kwok}/healthz"),
    }
    for name, (proc, url) in procs.items():
        _await(name, proc, lambda url=url: _http_ok(url, insecure=url.startswith("https")), "healthy")

    for i in range(NODES):
        code, body = api.request("POST", "/api/v1/nodes", _node(i))
        if code not in (201, 409):
            raise ClusterError(f"could not create Node kwok-node-{i}: HTTP {code} {str(body)[:200]}")
    kwok_proc = procs["kwok"][0]
    _await("kwok", kwok_proc, lambda: _nodes_ready(api), f"reporting {NODES} Ready nodes")
    # Pods are admitted only once their namespace's ServiceAccount exists (kube-controller-manager
    # creates it): wait for it in `default`, the first place a user runs something.
    kcm_proc = procs["kube-controller-manager"][0]
    _await("kube-controller-manager", kcm_proc, lambda: api.ok("/api/v1/namespaces/default/serviceaccounts/default"), "creating ServiceAccounts")

    _keep_configmap_params(api)

    tmp = KUBECONFIG.with_suffix(".tmp")
    tmp.write_text(_kubeconfig(server, pki, embed=True))
    tmp.chmod(0o600)
    tmp.replace(KUBECONFIG)
    return f"up: {server}, {NODES} kwok nodes; export KUBECONFIG={KUBECONFIG} PATH={BIN}:$PATH"


def main(argv: list[str]) -> int:
    usage = "usage: e2e/cluster up|down|status"
    if len(argv) != 1 or argv[0] not in ("up", "down", "status"):
        print(usage, file=sys.stderr)
        return 2
    command = argv[0]
    try:
        if command == "up":
            print(up())
        elif command == "down":
            stopped = stop_all()
            shutil.rmtree(DATA / "etcd", ignore_errors=True)
            if KUBECONFIG.exists():
                KUBECONFIG.unlink()
            if not stopped:
                print("down: nothing was running")
        else:
            running, text = status()
            print(text)
            return 0 if running else 1
    except ClusterError as err:
        print(f"e2e/cluster {command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"e2e/cluster {command}: interrupted; everything it started was stopped", file=sys.stderr)
        return 130
    return 0
