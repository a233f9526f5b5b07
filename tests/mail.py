"""A real SMTP server for the alert tests: `aiosmtpd` in its own process, on the port the Celery worker mails
to (tests/worker.py), keeping each message in a Maildir the test reads."""

import mailbox
import socket
import subprocess
import sys
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

from .worker import SMTP_PORT
from .xero import wait_until


@dataclass
class SmtpServer:
    process: subprocess.Popen
    maildir: Path

    def messages(self) -> list[Message]:
        box = mailbox.Maildir(self.maildir, create=False)
        return sorted((box[key] for key in box.keys()), key=lambda m: m["Date"] or "")

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages()]

    def wait_for(self, count: int, *, timeout: float = 30.0) -> list[Message]:
        wait_until(lambda: len(self.messages()) >= count, timeout=timeout, message=f"{count} email(s)")
        return self.messages()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def smtp_server(tmp_path):
    """aiosmtpd's own command line with its Mailbox handler, started for the test and stopped after it."""
    maildir = tmp_path / "maildir"
    mailbox.Maildir(maildir, create=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{SMTP_PORT}",
         "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _listening(SMTP_PORT) or process.poll() is not None, timeout=15, message="the SMTP server")
        if process.poll() is not None:
            raise RuntimeError(f"aiosmtpd did not start: {process.stderr.read().decode()[-2000:]}")
        yield SmtpServer(process, maildir)
    finally:
        process.terminate()
        process.wait(timeout=10)
