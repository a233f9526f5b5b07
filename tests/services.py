"""A test that needs a service this run lacks skips on a developer's machine and fails under CI (where
`.ci/run` sets CI and provides PostgreSQL and Redis): CI never passes by skipping."""

import os

import pytest


def require(available: bool, why: str) -> None:
    """Go on if `available`; otherwise fail under CI, skip elsewhere, saying `why`."""
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this: {why}")
    pytest.skip(why)
