"""`render diff --base REF STACK`: render the stack as commit REF has it, with REF's own code.

The base is what is deployed today: the base commit's tenants file rendered by the base commit's
code. A detached git worktree of REF, outside the repository's tree, renders it with this
Python (the project's .venv), and is removed afterwards whatever happens.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .engine import PROJECT_ROOT


class BaseRenderError(Exception):
    """REF is not a commit, or its render failed: the message says which, with git's or render's words."""


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BaseRenderError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def empty_render(out: Path) -> Path:
    """A render of nothing: what a stack the base does not have yet is compared with."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifests.yaml").write_text("", encoding="utf-8")
    (out / "resources.json").write_text(json.dumps([]) + "\n", encoding="utf-8")
    return out


def render_base(ref: str, stack: str, out: Path, expand: bool = True, root: Path = PROJECT_ROOT) -> Path:
    """Write REF's render of `stack` into `out` (an empty render when REF has no such stack)."""
    try:
        commit = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=root)
    except BaseRenderError:
        raise BaseRenderError(f"--base {ref}: not a commit in {root} (fetch it first, e.g. `git fetch origin {ref}`)") from None
    with tempfile.TemporaryDirectory(prefix="render-base-") as temporary:
        tree = Path(temporary) / "tree"
        _git("worktree", "add", "--detach", "--quiet", str(tree), commit, cwd=root)
        try:
            if not (tree / f"Pulumi.{stack}.yaml").exists():
                return empty_render(out)
            command = [sys.executable, "-m", "render", stack, "--out", str(out.resolve())]
            done = subprocess.run(command + ([] if expand else ["--no-expand"]), cwd=tree, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise BaseRenderError(f"rendering {stack} at {ref} ({commit[:12]}) failed:\n{done.stderr.strip() or done.stdout.strip()}")
        finally:
            _git("worktree", "remove", "--force", str(tree), cwd=root)
    return out
