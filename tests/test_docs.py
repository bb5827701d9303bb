"""The docs work as written: their shell examples run, print what the docs show, and their links resolve.

Conventions (docs/development.md, "The docs are tested"): shell examples are ```sh blocks; one
whose first line is `# needs: <what>` is not run; a command's trailing `# exits N` is its expected
exit code (else 0); a ```text block right after a block that runs is its expected output (every
line but `...` appears in what it printed); a ```yaml block after `<!-- file: PATH -->` is that file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import yaml

from tests import reference as reference_data

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
NEEDS = {"cluster", "pulumi", "network", "git", "minutes"}
FENCE = re.compile(r"^(`{3,})\s*([\w-]*)\s*$")
EXITS = re.compile(r"\s+#\s*exits (\d+)\b.*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
NOT_COPIED = shutil.ignore_patterns(".venv", ".git", "build", ".cache", "__pycache__", ".pytest_cache", ".hypothesis")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    comment: Optional[str]  # an HTML comment on the line before the fence
    after_blank_only: bool  # nothing but blank lines since the previous block

    @property
    def needs(self) -> Optional[str]:
        first = self.text.split("\n", 1)[0]
        return first.removeprefix("# needs:").strip() if first.startswith("# needs:") else None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found, lines = [], page.read_text(encoding="utf-8").split("\n")
    i, since_previous = 0, []
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            since_previous.append(lines[i])
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == opening.group(1))
        before = lines[i - 1].strip() if i else ""
        comment = before[4:-3].strip() if before.startswith("<!--") and before.endswith("-->") else None
        found.append(Block(page, i + 1, opening.group(2), "\n".join(lines[i + 1 : end]), comment, all(not s.strip() for s in since_previous)))
        i, since_previous = end + 1, []
    return found


def prose(page: Path) -> str:
    """The page without its fenced blocks and inline code, where links live."""
    text = re.sub(r"^(`{3,}).*?^\1\s*$", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _script(block: Block) -> str:
    """The block as a bash script; a command with `# exits N` must exit N, the others 0 (bash -e)."""
    out = []
    for line in block.text.split("\n"):
        expected = EXITS.search(line)
        if expected:
            command, code = line[: expected.start()], expected.group(1)
            line = (
                f'{{ {command}\n}} && __rc=0 || __rc=$?; [ "$__rc" = {code} ] || '
                f'{{ echo "exit $__rc, expected {code}: {command.strip()}" >&2; exit 97; }}'
            )
        out.append(line)
    return "\n".join(out) + "\n"


def _environment(home: Path) -> dict:
    """No helm (the docs show renders without chart expansion), a fixed terminal width for --help,
    and this repository's reference data (the copy has no ../shared beside it)."""
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "helm").exists()]
    env = {k: v for k, v in os.environ.items() if k not in {"HELM_BIN", "VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL"}}
    references = {"ISTIO_MT_REFERENCE": str(reference_data.shared_dir()), "ISTIO_MT_REFERENCE_CACHE": str(reference_data.cache_dir())}
    return {**env, **references, "PATH": os.pathsep.join(path), "COLUMNS": "100", "HOME": env.get("HOME", str(home))}


def _not_printed(expected: str, printed: str) -> list[str]:
    """The expected lines (but blank and `...` ones) that do not appear in `printed` in their order."""
    lines, at, missing = [line.rstrip() for line in printed.split("\n")], 0, []
    for line in expected.split("\n"):
        if not line.strip() or line.strip() == "...":
            continue
        try:
            at = lines.index(line.rstrip(), at) + 1
        except ValueError:
            missing.append(line)
    return missing


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The repository as a fresh clone has it, with the project's .venv: commands that write stay there."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=NOT_COPIED)
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


RUNNABLE = {page.name if page.parent == ROOT else str(page.relative_to(ROOT)): page for page in PAGES}


@pytest.mark.parametrize("name", [n for n, p in RUNNABLE.items() if any(b.lang == "sh" and not b.needs for b in blocks(p))])
def test_shell_examples_run_and_print_what_the_docs_show(name, repo_copy):
    page_blocks = blocks(RUNNABLE[name])
    for index, block in enumerate(page_blocks):
        if block.lang != "sh" or block.needs:
            continue
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", _script(block)],
            cwd=repo_copy, env=_environment(repo_copy), capture_output=True, text=True, timeout=600,
        )
        printed = done.stdout + done.stderr
        assert done.returncode == 0, f"{block.where}: exit {done.returncode}\n{printed}"
        following = page_blocks[index + 1] if index + 1 < len(page_blocks) else None
        if following and following.lang == "text" and following.after_blank_only:
            missing = _not_printed(following.text, printed)
            assert missing == [], f"{following.where}: not printed by the block above, in this order:\n" + "\n".join(missing) + f"\n--- printed:\n{printed}"


def test_examples_follow_one_convention():
    for page in PAGES:
        for block in blocks(page):
            assert block.lang not in {"bash", "shell", "console", "shell-session", "zsh"}, f"{block.where}: shell examples are ```sh blocks"
            if block.lang == "sh" and block.needs is not None:
                needs = {n.strip() for n in block.needs.split(",")}
                assert needs and needs <= NEEDS, f"{block.where}: `# needs:` takes {sorted(NEEDS)}"
        # No indented code blocks: a 4-space line after a blank line, outside lists and fences.
        previous, paragraph_start = "", ""
        for number, line in enumerate(re.sub(r"^(`{3,}).*?^\1\s*$", lambda m: "\n" * m.group(0).count("\n"), page.read_text(encoding="utf-8"), flags=re.S | re.M).split("\n"), 1):
            if line.startswith("    ") and not previous.strip() and not re.match(r"\s*([-*]|\d+\.)\s", paragraph_start):
                pytest.fail(f"{page.relative_to(ROOT)}:{number}: an indented code block; use a fenced ```sh or ```text block")
            if line.strip() and not previous.strip() and not line.startswith(" "):
                paragraph_start = line
            previous = line


def test_files_the_docs_show_are_the_files():
    shown = [b for page in PAGES for b in blocks(page) if b.comment and b.comment.startswith("file:")]
    assert shown, "no <!-- file: PATH --> block found"
    for block in shown:
        path = (block.page.parent / block.comment.removeprefix("file:").strip()).resolve()
        assert path.is_file(), f"{block.where}: {path} does not exist"
        assert block.text + "\n" == path.read_text(encoding="utf-8"), f"{block.where}: differs from {path.relative_to(ROOT)}"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for block_free in [re.sub(r"^(`{3,}).*?^\1\s*$", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)]:
        for heading in re.findall(r"^#{1,6}\s+(.*?)\s*$", block_free, flags=re.M):
            slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            if count:
                seen[f"{slug}-{count}"] = 1
    return set(seen)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_and_headings_that_exist(page):
    broken = []
    for target in LINK.findall(prose(page)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert broken == []


def test_every_page_of_docs_is_linked_from_the_readme():
    readme = prose(ROOT / "README.md")
    assert [p.name for p in (ROOT / "docs").glob("*.md") if f"(docs/{p.name}" not in readme] == []


@pytest.fixture(scope="module")
def dev_render(tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("render") / "dev"
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "render", "dev", "--no-expand", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, out


def test_resource_counts_the_docs_state_are_what_a_render_prints(dev_render):
    printed, _ = dev_render
    # workspace-1 of the dev stack: one route, nothing shared, no admins.
    per_tenant = re.search(r"^\s*TenantMesh\s+workspace-1\s+(\d+) resources$", printed, flags=re.M)
    assert per_tenant, printed
    stated = f"A tenant with one route and nothing shared is {per_tenant.group(1)} Pulumi resources"
    assert stated in (ROOT / "docs" / "isolation.md").read_text(encoding="utf-8")
    stated = f"A tenant with one route and nothing optional is {per_tenant.group(1)} Pulumi resources"
    assert stated in (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")


def test_the_readme_picture_shows_every_object_a_tenant_gets(dev_render):
    _, out = dev_render
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    picture = readme.split("## What one tenant gets", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    objects = [o for o in yaml.safe_load_all((out / "manifests.yaml").read_text(encoding="utf-8")) if o]
    mine = [o for o in objects if o["metadata"].get("namespace") == "workspace-1" or (o["kind"] == "Namespace" and o["metadata"]["name"] == "workspace-1")]
    assert len(mine) > 5
    missing = [f"{o['kind']} {o['metadata']['name']}" for o in mine if o["kind"] not in picture or o["metadata"]["name"] not in picture]
    assert missing == []


def test_scale_figures_are_those_of_the_committed_benchmark():
    results = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    page = (ROOT / "docs" / "scale.md").read_text(encoding="utf-8")
    for size in results["sizes"]:
        row = (
            f"| {size['tenants']:,} | {size['method']} | {size['resources']:,} | {size['program']['seconds']:.1f} s "
            f"| {round(size['program']['peakMiB'])} MiB |"
        )
        assert row in page, f"docs/scale.md lacks the row {row} (bench/results.json)"
    assert f"takes {results['validateSeconds']:.1f} s" in page
    assert f"takes {results['diffSeconds']:.1f} s" in page
