import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import reference as reference_data  # noqa: E402
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


# --- Reference data (tests/reference.py) ------------------------------------------------------


def pytest_sessionstart(session):
    # Fetched once here, when there is no shared copy, so that a missing file is known before any test.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    reference_data.status(progress=reporter.write_line if reporter else None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    # A parameter that stands for reference data missing while collecting (support.reference_params).
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, (reference_data.ReferenceMissing, reference_data.NotInManifest)):
            raise value


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.excinfo is not None and call.excinfo.errisinstance((reference_data.ReferenceMissing, reference_data.NotInManifest)):
        outcome.get_result().longrepr = str(call.excinfo.value)  # one line, not a traceback


def pytest_terminal_summary(terminalreporter):
    current = reference_data.status()
    if current.missing:
        terminalreporter.write_line(current.line(), red=True)
