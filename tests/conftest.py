import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import objects, run  # noqa: E402


@pytest.fixture(scope="session")
def dev_run():
    return run("dev")


@pytest.fixture(scope="session")
def dev_objects(dev_run):
    return objects(dev_run)


@pytest.fixture(scope="session")
def classic_run():
    """The blog's setup on the operator path (Istio 1.23.6)."""
    return run("classic")


@pytest.fixture(scope="session")
def classic_objects(classic_run):
    return objects(classic_run)
