"""The rules across tenants over a file that failed the typed model: every mistake in one run.

A mistake in one tenant leaves the file's other tenants and most of that tenant intact, so the
rules run over a repaired copy of the file:
- an unknown key is dropped (the rest of its mapping is what the user wrote);
- a broken value gets a stand-in no other part of the file can clash with where one exists
  (a namespace, gateway name or labels of its own, a port no other server uses);
- otherwise the list item holding it is left out (a server, a route, an export, a host), or the
  field falls back to its default; a tenant whose name is broken is left out whole.

A finding that could come from a repair is not reported: one that names a stand-in, one on the
path of a repaired value (inside it, or on the way to it), and the tenant's routes once its
servers were repaired (which hosts carry HTTP is then unknown). Tenants left out, and tenants
whose exports were repaired, are `unchecked` for the rules: references to them are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import ValidationError

from . import rules
from .model import TenantsFile, rules_checked_by_caller

Path = tuple
_MAX_ROUNDS = 8
_UNKNOWN_KEY = ("extra_forbidden", "invalid_key")
_MAX_PORT = 65535


def rule_findings(data: dict, errors: list[dict]) -> list[rules.Finding]:
    """The rules' findings (paths into `data` as written) for a file whose model `errors` are known."""
    repair = _Repair(_unshared(data), _stand_in_base(data))
    config = repair.run(errors)
    if config is None:
        return []
    findings = []
    for path, message in rules.check(config, repair.unchecked()):
        path = repair.original(path)
        if not repair.explains(path, message):
            findings.append((path, message))
    return findings


def _unshared(value: Any) -> Any:
    """A copy in which no two places share a mapping or list (YAML aliases do): a repair changes one place."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value


def _stand_in_base(data: Any) -> str:
    """A name the file does not contain anywhere, for stand-ins (and so for messages that mention one)."""
    text = repr(data)
    base = "stand-in"
    while base in text:
        base += "-x"
    return base


def _is_index(key: Any) -> bool:
    return isinstance(key, int) and not isinstance(key, bool)


@dataclass
class _Repair:
    data: Any
    base: str
    # Original path of a list -> the original indices of the items still in it (lists left untouched are absent).
    kept: dict[Path, list[int]] = field(default_factory=dict)
    repaired: list[Path] = field(default_factory=list)  # original paths
    left_out: set[str] = field(default_factory=set)
    exports_repaired: set[str] = field(default_factory=set)
    stand_ins: list[str] = field(default_factory=list)

    def run(self, errors: list[dict]) -> Optional[TenantsFile]:
        for _ in range(_MAX_ROUNDS):
            if not self._round(errors):
                return None
            try:
                return TenantsFile.model_validate(self.data, context=rules_checked_by_caller())
            except ValidationError as err:
                errors = err.errors(include_url=False)
        return None

    def unchecked(self) -> set[str]:
        return self.left_out | self.exports_repaired

    # --- Paths ------------------------------------------------------------------------------

    def original(self, path: Path) -> Path:
        """A path into the repaired copy as a path into the file."""
        out: list = []
        for key in path:
            if _is_index(key):
                kept = self.kept.get(tuple(out))
                key = kept[key] if kept is not None and 0 <= key < len(kept) else key
            out.append(key)
        return tuple(out)

    def explains(self, path: Path, message: str) -> bool:
        """Whether a repair could be the cause of this finding."""
        if any(stand_in in message for stand_in in self.stand_ins):
            return True
        for repaired in self.repaired:
            if path[: len(repaired)] == repaired or repaired[: len(path)] == path:
                return True
            if any(path[: len(prefix)] == prefix for prefix in _dependents(repaired)):
                return True
        return False

    # --- Repairs ------------------------------------------------------------------------------

    def _round(self, errors: list[dict]) -> bool:
        """Repair what `errors` point at; False when an error is outside the tenants (no rule could be trusted)."""
        removals: list[Path] = []
        for error in errors:
            loc = tuple(error["loc"])
            if error["type"] in _UNKNOWN_KEY:
                container = self._at(loc[:-1])
                if isinstance(container, dict):
                    container.pop(loc[-1], None)
                continue
            if len(loc) < 2 or loc[0] != "tenants" or not _is_index(loc[1]):
                return False  # controlPlane, observability or the list itself: what the rules compare with is unknown
            removal = self._stand_in(loc)
            if removal is not None:
                removals.append(removal)
        # Later items first, so that the indices still to remove stay valid.
        for path in sorted(set(removals), key=_sort_key, reverse=True):
            self._remove(path)
        return True

    def _stand_in(self, loc: Path) -> Optional[Path]:
        """Put a stand-in at `loc` (a path into the copy); returns an item to remove when there is none."""
        tenant, rel = loc[:2], loc[2:]
        mark = self.original(loc)
        data = self._at(tenant)
        if not rel or rel[0] == "name" or not isinstance(data, dict):
            return self._leave_out(tenant)
        if rel[0] == "exports":
            self.exports_repaired.add(str(data.get("name")))
        if rel == ("namespace",) or rel[:2] == ("gateway", "name"):
            end = 3 if rel[0] == "namespace" else 4
            self._set(loc[:end], self._new_stand_in(), mark[:end])
            return None
        if rel == ("gateway",):
            name = self._new_stand_in()
            self._set(loc, {"name": name, "labels": {name: name}}, mark)
            return None
        if rel[:2] == ("gateway", "labels"):
            name = self._new_stand_in()
            self._set(loc[:4], {name: name}, mark[:4])
            return None
        server = rel[:3]
        if len(rel) >= 4 and rel[:2] == ("gateway", "servers") and _is_index(rel[2]):
            if rel[3] == "port":
                self._set(loc[:6], self._free_port(loc[:3]), mark[:6])
                return None
            if rel[3] in ("protocol", "tls"):
                # Its hosts still count; what depends on its protocol or TLS is not judged.
                server_data = self._at(tenant + server)
                server_data.pop("tls", None)
                if rel[3] == "protocol":
                    server_data.pop("protocol", None)
                    server_data.setdefault("name", self._new_stand_in())  # the default port name has the protocol
                self.repaired.append(mark[:6])
                return None
        if len(rel) >= 3 and rel[0] == "routes" and _is_index(rel[1]) and rel[2] == "http":
            self._set(loc[:5], [{"to": {"service": self._new_stand_in(), "port": 1}}], mark[:5])
            return None
        # No stand-in: leave out the innermost list item holding the value, or fall back to the default.
        for depth in range(len(loc) - 1, 1, -1):
            if _is_index(loc[depth]):
                self.repaired.append(mark[: depth + 1])
                return loc[: depth + 1]
        container = self._at(loc[:-1])
        if not isinstance(container, dict) or loc[-1] not in container:
            return self._leave_out(tenant)  # a required value missing, with no default to fall back to
        del container[loc[-1]]
        self.repaired.append(mark)
        return None

    def _leave_out(self, tenant: Path) -> Path:
        data = self._at(tenant)
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str):
            self.left_out.add(name)
        self.repaired.append(self.original(tenant))
        return tenant

    def _new_stand_in(self) -> str:
        name = f"{self.base}-{len(self.stand_ins)}"
        self.stand_ins.append(name)
        return name

    def _free_port(self, gateway: Path) -> int:
        servers = (self._at(gateway) or {}).get("servers")
        used = {s.get("port") for s in servers if isinstance(s, dict) and _is_index(s.get("port"))} if isinstance(servers, list) else set()
        return next(port for port in range(_MAX_PORT, 0, -1) if port not in used)

    def _set(self, loc: Path, value: Any, mark: Path) -> None:
        container = self._at(loc[:-1])
        if isinstance(container, dict):
            container[loc[-1]] = value
        self.repaired.append(mark)

    def _remove(self, loc: Path) -> None:
        container = self._at(loc[:-1])
        if not isinstance(container, list) or not 0 <= loc[-1] < len(container):
            return
        kept = self.kept.setdefault(self.original(loc[:-1]), list(range(len(container))))
        del container[loc[-1]]
        del kept[loc[-1]]

    def _at(self, loc: Path) -> Any:
        node = self.data
        for key in loc:
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and _is_index(key) and 0 <= key < len(node):
                node = node[key]
            else:
                return None
        return node


def _dependents(repaired: Path) -> list[Path]:
    """Findings elsewhere in the tenant that read what was repaired."""
    tenant, rel = repaired[:2], repaired[2:]
    if rel == ("gateway",) or rel[:2] == ("gateway", "servers") and rel[3:4] not in (("port",), ("name",)):
        out = [tenant + ("routes",)]  # which hosts the gateway carries HTTP for
        if rel[3:4] == ("hosts",):
            out.append(repaired[:5] + ("tls",))  # a certificate for the server's hosts
        return out
    return []


def _sort_key(path: Path) -> tuple:
    return tuple((0, key, "") if _is_index(key) else (1, 0, str(key)) for key in path)
