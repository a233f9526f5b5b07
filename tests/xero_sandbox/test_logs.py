"""Run as a process, the sandbox logs one line per request and per event, stamped in ISO 8601 with
the UTC offset."""
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from xero_sandbox.logs import IsoFormatter

from .test_control import _free_port

ROOT = Path(__file__).resolve().parents[2]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


def _wait_until_up(process, url, log):
    deadline = time.monotonic() + 15
    while True:
        try:
            return requests.get(url, timeout=1)
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sandbox did not start: {log.read_text()}")
            time.sleep(0.05)


def test_the_process_logs_a_line_per_request_and_event(tmp_path):
    port = _free_port()
    closed = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "sandbox.log"
    command = [sys.executable, "-m", "xero_sandbox", "--host", "127.0.0.1", "--port", str(port),
               "--webhook-url", f"http://127.0.0.1:{closed}/hooks"]
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(process, base + "/_sandbox/health", log)
        requests.put(base + "/api.xro/2.0/Invoices?summarizeErrors=false", json={}, timeout=5,
                     headers={"xero-tenant-id": "a3c2e0f6-6d7b-4c1e-9f3a-1b2c3d4e5f60"})
        intent = requests.post(base + "/_sandbox/webhooks/intent", json={}, timeout=15).json()
    finally:
        process.terminate()
        process.wait(timeout=5)

    lines = log.read_text().splitlines()
    assert lines and all(re.match(STAMP + " (INFO|WARNING|ERROR) ", line) for line in lines), lines
    assert any(re.search(r"xero_sandbox\.http GET /_sandbox/health 200 [\d.]+ms$", line) for line in lines)
    assert any(re.search(r"xero_sandbox\.http PUT /api\.xro/2\.0/Invoices\?summarizeErrors=false 401 [\d.]+ms "
                         r"tenant=a3c2e0f6-6d7b-4c1e-9f3a-1b2c3d4e5f60$", line) for line in lines)
    assert any("xero_sandbox.webhooks webhook intent to receive" in line for line in lines)
    assert not intent["ok"]
    assert not any('HTTP/1.1"' in line for line in lines)  # no second, differently stamped access log


def test_timestamps_are_utc_with_the_offset_like_the_apps():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    record.created = 1714521600.5

    stamp = IsoFormatter("%(asctime)s").format(record)

    assert re.fullmatch(STAMP, stamp)
    assert stamp == "2024-05-01T00:00:00.500+00:00"
