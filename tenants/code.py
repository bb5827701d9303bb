"""The program's code as one digest: what a shard's resources and a validated tenants file were
built with (tenants/shards.py, tenants/handoff.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

# What a stack's resources are made of, besides its settings and tenants: the code that builds them.
PROGRAM_CODE = ("__main__.py", "requirements.txt", "builders", "components", "tenants")


def code_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for entry in PROGRAM_CODE:
        path = root / entry
        # A project copy without one of them (a test's, made of links to the packages) hashes the rest.
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()
