"""The browser tests find Debian's Chromium, or fail saying how to install it (never skip)."""

import pytest

from tests.e2e.conftest import CHROMIUM_ARGS, chromium_executable


def test_a_missing_chromium_fails_saying_how_to_install_it(monkeypatch):
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        chromium_executable()


def test_chromium_is_launched_by_path_headless_without_its_sandbox(browser_type_launch_args):
    assert browser_type_launch_args["executable_path"] == chromium_executable()
    assert set(CHROMIUM_ARGS) <= set(browser_type_launch_args["args"])
    assert browser_type_launch_args.get("headless", True)
