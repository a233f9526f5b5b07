"""pytest fixtures for the Xero sandbox. Enable with ``pytest_plugins = ["xero_sandbox.pytest_plugin"]``.

- ``xero_sandbox_server`` (session): one in-process sandbox per test process (so one per xdist
  worker), with OpenAPI validation on, configured from the ``XERO_SANDBOX_*`` variables (e.g. the app's
  client id and secret).
- ``xero_sandbox`` (function): the same server, reset before the test (state, faults, config,
  clock, request log, violations); the test fails at teardown if any request or response broke
  Xero's OpenAPI description. A test that sends bad requests on purpose must call
  ``xero_sandbox.clear_violations()`` before it ends.

The module only defines fixtures, so listing it once at the top level affects no other test.
"""
import json

import pytest

from .config import config_from_env
from .testing import SandboxServer


@pytest.fixture(scope="session")
def xero_sandbox_server():
    config = config_from_env()
    config.validate_openapi = True
    server = SandboxServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def xero_sandbox(xero_sandbox_server):
    xero_sandbox_server.reset(config=True)
    yield xero_sandbox_server
    violations = xero_sandbox_server.violations()
    if violations:
        pytest.fail(
            "The Xero sandbox recorded OpenAPI conformance violations:\n"
            + "\n".join(json.dumps(v, sort_keys=True) for v in violations),
            pytrace=False,
        )
