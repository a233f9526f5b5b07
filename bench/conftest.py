"""bench/profile_send.py runs under pytest with the tests' set-up: the in-process Xero sandbox and the `xero`
fixture, and the tests' settings (tests/conftest.py)."""

from tests.conftest import pytest_configure, xero  # noqa: F401 - the hook and the fixture, for bench/'s modules

pytest_plugins = ["xero_sandbox.pytest_plugin"]
