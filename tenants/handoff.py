"""The validated tenants file, handed by `python -m deploy` to the programs of its stacks.

Each shard's program reads and validates the whole tenants file: 1.2 s of CPU at 1,000 tenants,
in each of 100 shard programs. `python -m deploy` has validated it once already, with the same
code and the same settings; it leaves the result in a private file for the duration of its run,
and a program takes it only when the file's text, the stack's settings (but its shard number) and
the project and its code are those it was validated with. Otherwise the program validates the
file itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path
from typing import Mapping, Optional

from .code import code_digest
from .model import StackSettings, TenantsFile

HANDOFF_ENV = "ISTIO_MULTITENANCY_VALIDATED_TENANTS"
HANDOFF_FILE = "tenants.pickle"


def text_digest(text: str) -> str:
    """The tenants file's text, as the key holds it (`Settings.tenants_digest`)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def handoff_key(settings: StackSettings, root: Path, tenants_digest: str) -> str:
    """What the validation depended on: the file's text (its `text_digest`), the stack's settings,
    the project and its code."""
    stack = settings.model_dump(mode="json", exclude={"shard"})
    identity = json.dumps([stack, str(root.resolve()), code_digest(root), tenants_digest], sort_keys=True)
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def write_handoff(directory: Path, key: str, tenants: TenantsFile) -> dict[str, str]:
    """Leave `tenants` in `directory` (private to this run); the environment that points to it."""
    path = directory / HANDOFF_FILE
    path.write_bytes(pickle.dumps((key, tenants), protocol=pickle.HIGHEST_PROTOCOL))
    return {HANDOFF_ENV: str(path)}


def handed_tenants(
    settings: StackSettings, root: Path, tenants_digest: str, environ: Mapping[str, str] = os.environ
) -> Optional[TenantsFile]:
    """The tenants `python -m deploy` validated under the key of these, if it handed any (the key,
    which reads the program's code, is computed only then)."""
    path = environ.get(HANDOFF_ENV)
    if not path:
        return None
    key = handoff_key(settings, root, tenants_digest)
    try:
        handed_key, tenants = pickle.loads(Path(path).read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError):
        return None
    return tenants if handed_key == key and isinstance(tenants, TenantsFile) else None
