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
