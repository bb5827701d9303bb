"""What users see of a reachability map: a table by tenant, a picture (SVG written here, no
Graphviz needed), and the paths that open or close between two renders."""

from __future__ import annotations

from html import escape
from typing import Optional

from tenants.model import TenantsFile

from .analyzer import Matrix
from .endpoints import INTERNET, PROXY_PORTS, Endpoint
from .reach import show_ports

PLATFORM = "platform"
NONE = "-"


def group_of(key: str, by_key: dict[str, Endpoint]) -> str:
    if key == INTERNET:
        return INTERNET
    endpoint = by_key.get(key)
    return endpoint.tenant if endpoint is not None and endpoint.tenant else PLATFORM


def grouped(computed: Matrix, endpoints: list[Endpoint]) -> dict[tuple[str, str], frozenset]:
    by_key = {e.key: e for e in endpoints}
    cells: dict[tuple[str, str], frozenset] = {}
    for (src, dst), ports in computed.items():
        key = (group_of(src, by_key), group_of(dst, by_key))
        cells[key] = cells.get(key, frozenset()) | ports
    return cells


def table(computed: Matrix, endpoints: list[Endpoint], config: TenantsFile) -> str:
    """Rows reach columns: the ports open from any endpoint of the row to any of the column."""
    tenants = [t.name for t in config.tenants]
    cells = grouped(computed, endpoints)
    columns = [*tenants, PLATFORM]
    rows = [INTERNET, *tenants, PLATFORM]

    def cell(src: str, dst: str) -> str:
        if src == dst and src != PLATFORM:
            return "(itself)"
        ports = cells.get((src, dst))
        return show_ports(ports) if ports else NONE

    grid = [["from \\ to", *columns]] + [[src, *(cell(src, dst) for dst in columns)] for src in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in grid)


def path_lines(computed: Matrix) -> list[str]:
    return [f"{src} -> {dst}:{show_ports(ports)}" for (src, dst), ports in sorted(computed.items())]


def changes(old: Matrix, new: Matrix) -> list[str]:
    """`+ path` for ports that open, `- path` for ports that close, from `old` to `new`."""
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key, frozenset()), new.get(key, frozenset())
        src, dst = key
        if after - before:
            lines.append(f"+ {src} -> {dst}:{show_ports(after - before)}")
        if before - after:
            lines.append(f"- {src} -> {dst}:{show_ports(before - after)}")
    return lines


# --- The picture -----------------------------------------------------------------------------

BOX_WIDTH = 230
GAP = 60
ROW = 24
TOP = 110
MARGIN = 30


def _text(x: float, y: float, text: str, size: int = 12, anchor: str = "middle", weight: str = "normal") -> str:
    return (f'<text x="{x:.0f}" y="{y:.0f}" font-family="sans-serif" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}">{escape(text)}</text>')


def _arrow(x1: float, y1: float, x2: float, y2: float, label: str, colour: str, bend: float = 0) -> str:
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2 + bend
    path = f"M{x1:.0f},{y1:.0f} Q{mx:.0f},{my:.0f} {x2:.0f},{y2:.0f}"
    return (f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.6" marker-end="url(#head-{colour[1:]})"/>'
            + _text(mx, (y1 + y2) / 2 + bend / 2 - 4, label, 11))


def svg(computed: Matrix, endpoints: list[Endpoint], config: TenantsFile, title: str) -> str:
    """Tenants as boxes holding their gateway (the entry point, fed by the internet) and services;
    the platform below; an arrow per export, labelled with the service and its ports."""
    tenants = config.tenants
    by_tenant = {t.name: [e for e in endpoints if e.tenant == t.name and e.role != "hostile"] for t in tenants}
    tallest = max([len(v) for v in by_tenant.values()] + [1])
    box_height = 40 + ROW * tallest
    width = max(2 * MARGIN + len(tenants) * (BOX_WIDTH + GAP) - GAP, 520)
    platform_y = TOP + box_height + 110
    platform = [e for e in endpoints if e.tenant is None]
    height = platform_y + 40 + ROW * len(platform) + MARGIN
    colours = {"entry": "#1f77b4", "export": "#d62728", "platform": "#7f7f7f"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        "<defs>" + "".join(
            f'<marker id="head-{c[1:]}" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
            f'<path d="M0,0 L10,4 L0,8 z" fill="{c}"/></marker>' for c in colours.values()
        ) + "</defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        _text(MARGIN, 24, title, 14, "start", "bold"),
        f'<ellipse cx="{width / 2:.0f}" cy="52" rx="60" ry="16" fill="#eef5fb" stroke="{colours["entry"]}"/>',
        _text(width / 2, 56, INTERNET),
    ]
    where: dict[str, tuple[float, float]] = {}
    for index, tenant in enumerate(tenants):
        x = MARGIN + index * (BOX_WIDTH + GAP)
        parts.append(f'<rect x="{x}" y="{TOP}" width="{BOX_WIDTH}" height="{box_height}" rx="8" fill="#f7f7f7" stroke="#333"/>')
        parts.append(_text(x + BOX_WIDTH / 2, TOP + 18, f"{tenant.name} (ns {tenant.namespace_name})", 12, weight="bold"))
        members = sorted(by_tenant[tenant.name], key=lambda e: (e.role != "gateway", e.name))
        for row, endpoint in enumerate(members):
            y = TOP + 40 + row * ROW
            ports = show_ports(endpoint.entry_ports if endpoint.role == "gateway" else endpoint.ports - PROXY_PORTS)
            label = f"▶ {endpoint.name} :{ports}" if endpoint.role == "gateway" else f"{endpoint.name} :{ports}"
            parts.append(_text(x + 12, y, label, 11, "start", "bold" if endpoint.role == "gateway" else "normal"))
            where[endpoint.key] = (x, y)
        gateway = next((e for e in members if e.role == "gateway"), None)
        if gateway is not None:
            open_ports = computed.get((INTERNET, gateway.key))
            label = show_ports(open_ports) if open_ports else "closed"
            parts.append(_arrow(width / 2, 68, x + BOX_WIDTH / 2, TOP, label, colours["entry"]))
    # Exports: importer's box -> the exported service, labelled with what opens.
    for (src, dst), ports in sorted(computed.items()):
        source, target = _endpoint(src, endpoints), _endpoint(dst, endpoints)
        if not source or not target or not source.tenant or not target.tenant or source.tenant == target.tenant:
            continue
        if target.role != "workload" or not ports - PROXY_PORTS or source.role != "gateway":
            continue  # one arrow per import: from the importer's gateway row, for the service's own ports
        (sx, _), (tx, _) = where.get(src, (0, 0)), where[dst]
        parts.append(_arrow(sx + BOX_WIDTH / 2, TOP + box_height, tx + BOX_WIDTH / 2, TOP + box_height,
                            f"{target.name}:{show_ports(ports - PROXY_PORTS)}", colours["export"], bend=70))
    parts.append(f'<rect x="{MARGIN}" y="{platform_y}" width="{width - 2 * MARGIN}" height="{40 + ROW * len(platform)}" '
                 f'rx="8" fill="#f0f0f0" stroke="{colours["platform"]}"/>')
    parts.append(_text(MARGIN + 12, platform_y + 18, "platform", 12, "start", "bold"))
    for row, endpoint in enumerate(platform):
        parts.append(_text(MARGIN + 12, platform_y + 40 + row * ROW, f"{endpoint.key} :{show_ports(endpoint.ports)}", 11, "start"))
    cells = grouped(computed, endpoints)
    for index, tenant in enumerate(tenants):
        ports = cells.get((tenant.name, PLATFORM))
        x = MARGIN + index * (BOX_WIDTH + GAP) + BOX_WIDTH / 2
        parts.append(_arrow(x, TOP + box_height, x, platform_y, show_ports(ports) if ports else "closed", colours["platform"]))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _endpoint(key: str, endpoints: list[Endpoint]) -> Optional[Endpoint]:
    return next((e for e in endpoints if e.key == key), None)


def breach_lines(breaches) -> list[str]:
    """Hostile-addition breaches, one line per destination and cause, the sources gathered."""
    gathered: dict[tuple, list[str]] = {}
    for breach in breaches:
        gathered.setdefault((breach.tenant, breach.dst, breach.ports, breach.cause), []).append(breach.src)
    lines = []
    for (tenant, dst, ports, cause), sources in gathered.items():
        shown = sources[0] if len(sources) == 1 else f"{{{', '.join(sources)}}}"
        by = f" by {cause}" if cause else ""
        lines.append(f"{shown} -> {dst}:{show_ports(ports)} opened{by} (tenant {tenant}'s own objects)")
    return lines
