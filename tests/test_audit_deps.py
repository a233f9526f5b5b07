"""bin/audit-deps, what CI runs on the dependencies: it fails on a known vulnerability with a fix, and on
an audit that could not run unless told to go on. pip-audit is replaced by a stand-in that writes the
report pip-audit would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKE_PIP_AUDIT = """#!{python}
import json, os, sys
output = sys.argv[sys.argv.index("--output") + 1]
open(output, "w").write(os.environ["FAKE_REPORT"])
"""


def audit(tmp_path, dependencies, **environment) -> subprocess.CompletedProcess:
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    (tools / "python").unlink(missing_ok=True)
    (tools / "python").symlink_to(sys.executable)
    fake = tools / "pip-audit"
    fake.write_text(FAKE_PIP_AUDIT.format(python=sys.executable))
    fake.chmod(0o755)
    env = {name: value for name, value in os.environ.items() if name != "AUDIT_ALLOW_UNREACHABLE"}
    env.update(FAKE_REPORT=json.dumps({"dependencies": dependencies}), **environment)
    return subprocess.run(
        [str(tools / "python"), "bin/audit-deps", sys.executable], cwd=ROOT, env=env, capture_output=True, text=True
    )


CLEAN = {"name": "django", "version": "5.2.19", "vulns": []}


def vulnerable(*fixes):
    return {"name": "requests", "version": "2.0.0", "vulns": [{"id": "GHSA-test", "fix_versions": list(fixes)}]}


def test_no_known_vulnerability_passes(tmp_path):
    result = audit(tmp_path, [CLEAN])
    assert result.returncode == 0, result.stderr
    assert "1 of 1 installed packages checked" in result.stdout


def test_a_vulnerability_with_a_fix_fails_and_names_the_fix(tmp_path):
    result = audit(tmp_path, [CLEAN, vulnerable("2.32.4")], AUDIT_ALLOW_UNREACHABLE="1")
    assert result.returncode == 1
    assert "VULNERABLE, upgrade the pin: requests 2.0.0: GHSA-test (fixed in 2.32.4)" in result.stdout


def test_a_vulnerability_without_a_fix_is_reported_but_passes(tmp_path):
    result = audit(tmp_path, [CLEAN, vulnerable()])
    assert result.returncode == 0
    assert "known, not fixed upstream yet: requests 2.0.0: GHSA-test" in result.stdout


@pytest.mark.parametrize("allowed, code", [(None, 1), ("1", 0)])
def test_an_audit_that_could_not_reach_the_data_fails_unless_allowed(tmp_path, allowed, code):
    skipped = {"name": "celery", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    result = audit(tmp_path, [CLEAN, skipped], **({"AUDIT_ALLOW_UNREACHABLE": allowed} if allowed else {}))
    assert result.returncode == code
    assert "not audited: 1 package(s) could not be audited (e.g. celery)" in result.stdout + result.stderr
