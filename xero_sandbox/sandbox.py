"""The sandbox's state and machinery in one object: books per organisation, identity, clock,
rate limiter, faults, idempotency memory, request log and conformance violations.

Every read or write of the books and identity happens under ``lock`` (one RLock), so requests are
serialised where it matters while slow faults and in-flight counting run outside it. With a
``state_file`` the books, identity, signing key and clock offset survive restarts.
"""
import json
import logging
import os
import secrets
import tempfile
import threading
import zlib
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

from . import codec
from .clock import Clock
from .config import SandboxConfig
from .faults import FaultRegistry
from .models import Identity, OrgBook
from .ratelimit import RateLimiter
from .resources.common import CREDITNOTE, Ctx
from .seed import extra_organisation, seed_books, tenant_id_of
from .stats import Stats
from .webhooks import Webhooks, event

logger = logging.getLogger(__name__)

STATE_VERSION = 1
REQUEST_LOG_LIMIT = 5000


@dataclass
class StoredResponse:
    """An idempotent request's first answer, replayed for the same key and body. Kept compressed:
    a benchmark's answers to batches of 50 invoices would otherwise hold hundreds of megabytes."""

    fingerprint: str
    status: int
    compressed: bytes
    stored_at: float

    @classmethod
    def keep(cls, fingerprint: str, status: int, body: bytes, stored_at: float) -> "StoredResponse":
        return cls(fingerprint, status, zlib.compress(body, 1), stored_at)

    @property
    def body(self) -> bytes:
        return zlib.decompress(self.compressed)


class Sandbox:
    def __init__(self, config: SandboxConfig):
        self.startup_config = config.copy()
        self.config = config
        self.lock = threading.RLock()
        self.clock = Clock(config.time_scale)
        self.signing_key = config.signing_key or secrets.token_urlsafe(48)
        self.books: dict[str, OrgBook] = seed_books(config.organisations)
        self.identity = Identity()
        self.idempotency: dict[tuple, StoredResponse] = {}
        self.stats = Stats()
        self.limiter = RateLimiter(self.clock, config, self.stats)
        self.faults = FaultRegistry()
        self._log_lock = threading.Lock()
        self.request_log: deque = deque(maxlen=REQUEST_LOG_LIMIT)
        self.violations: list[dict] = []
        self._next_log_id = 1
        self.generation = 0  # how many resets: a request that began before the latest one is not logged
        self.webhooks = Webhooks(lambda: self.config, on_batch=self._check_webhook)
        self.load()

    def reset(self, *, config: bool = False) -> None:
        """Back to the seeded organisations; with ``config`` also back to the startup settings."""
        self.faults.clear()
        self.webhooks.reset()
        with self.lock:
            self.generation += 1
            if config:
                self.config = self.startup_config.copy()
                self.limiter.configure(self.config)
            self.books = seed_books(self.config.organisations)
            self.identity = Identity()
            self.idempotency.clear()
            self.clock.reset(self.config.time_scale)
            self.limiter.reset()
            self.stats.clear()
            self.clear_requests()
            self.clear_violations()
            self.save()

    def configure(self, changes: dict) -> None:
        with self.lock:
            updated = self.config.copy()
            updated.update(changes)
            self.config = updated
            self.limiter.configure(updated)
            if "time_scale" in changes:
                self.clock.set_time_scale(updated.time_scale)
            if "organisations" in changes:
                self.organisations_add(updated.organisations)

    def organisations_add(self, count: int) -> None:
        """Make sure Organisation 1 up to ``count`` exist (new ones are copies of Organisation 1's
        settings with empty books); existing books are kept, none are removed."""
        with self.lock:
            for number in range(3, count + 1):
                if tenant_id_of(number) not in self.books:
                    book = extra_organisation(number)
                    self.books[book.tenant_id] = book
            self.config.organisations = max(self.config.organisations, count)
            self.save()

    def commit(self, ctx: Ctx) -> None:
        """After a write to one organisation's books (under ``lock``): queue webhook events for what
        changed, for every app with a webhook that is connected to the organisation; save."""
        if ctx.changes:
            tenant_id = ctx.book.tenant_id
            subscribers = [
                client.client_id for client in self.config.clients
                if client.webhook_url and any(
                    c.tenant_id == tenant_id and c.client_id == client.client_id
                    for c in self.identity.connections.values()
                )
            ]
            if subscribers:
                events = [
                    event(tenant_id, category, record_id, kind, ctx.now, self._event_data(ctx, category, record_id))
                    for (category, record_id), kind in ctx.changes.items()
                ]
                self.webhooks.publish(subscribers, events)
        self.save()

    @staticmethod
    def _event_data(ctx: Ctx, category: str, resource_id: str):
        """Credit note events carry the credit note's Type and Status (Xero's CreditNoteWebhookEvent)."""
        if category != CREDITNOTE:
            return None
        credit_note = ctx.book.credit_notes.get(resource_id)
        return {"Type": credit_note.type, "Status": credit_note.status} if credit_note else None

    def _check_webhook(self, payload: dict) -> None:
        if self.config.validate_openapi:
            from .conformance import check_webhook

            self.add_violations(check_webhook(payload))

    def close(self) -> None:
        """Stop the webhook thread (the WSGI app itself has nothing to close)."""
        self.webhooks.close()

    @contextmanager
    def changing(self, tenant_id: str):
        """A change to one organisation's books from outside the API (control API, page): yields the
        Ctx to change them with (or None for an unknown tenant), then commits like an API call."""
        with self.lock:
            book = self.book(tenant_id)
            if book is None:
                yield None
                return
            ctx = Ctx(book=book, now=self.clock.now())
            try:
                yield ctx
            finally:
                self.commit(ctx)

    def book(self, tenant_id: str) -> OrgBook | None:
        return self.books.get((tenant_id or "").lower())

    def stats_snapshot(self) -> dict:
        return self.stats.snapshot({tenant_id: book.organisation.name for tenant_id, book in self.books.items()})

    def log_request(self, entry: dict) -> None:
        with self._log_lock:
            entry["id"] = self._next_log_id
            self._next_log_id += 1
            self.request_log.append(entry)

    def requests(self) -> list[dict]:
        with self._log_lock:
            return list(self.request_log)

    def clear_requests(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    def add_violations(self, found: list[dict]) -> None:
        with self._log_lock:
            self.violations.extend(found)

    def clear_violations(self) -> None:
        with self._log_lock:
            self.violations.clear()

    def save(self) -> None:
        if not self.config.state_file:
            return
        with self.lock:
            data = {
                "version": STATE_VERSION,
                "signing_key": self.signing_key,
                "clock_offset": self.clock.offset,
                "books": codec.dump(self.books),
                "identity": codec.dump(self.identity),
            }
        directory = os.path.dirname(os.path.abspath(self.config.state_file))
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=directory, delete=False, suffix=".tmp", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(handle.name, self.config.state_file)

    def load(self) -> None:
        path = self.config.state_file
        if not path or not os.path.exists(path):
            return
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"unsupported state version {data.get('version')!r}")
            self.books = codec.load(dict[str, OrgBook], data["books"])
            self.identity = codec.load(Identity, data["identity"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("Ignoring unreadable sandbox state file %s: %s", path, error)
            return
        self.signing_key = self.config.signing_key or data["signing_key"]
        self.clock.advance(data.get("clock_offset", 0.0))
