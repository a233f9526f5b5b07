"""Xero's webhooks: thin events about invoices, contacts and credit notes, POSTed in signed batches.

For every registered app with a webhook URL and key, each change to an invoice, contact or credit
note of an organisation the app is connected to becomes an event with the app's next sequence
number. A background thread sends the app's queued events as one batch
``{"events": [...], "firstEventSequence": n, "lastEventSequence": m, "entropy": "..."}`` with
``x-xero-signature`` = base64(HMAC-SHA256(raw body, webhook key)). A batch is retried with the same
bytes until the receiver answers 2xx (at least once delivery), after 1, 2, 4... seconds
(``webhook_retry_seconds``, at most a minute apart), and given up after ``webhook_max_attempts``.
One app's batches go out in order: a later batch waits for the one being retried.

``flush()`` lets tests wait for delivery without sleeping: every queued event is put in a batch
and every waiting batch is tried at once, ignoring its backoff; it returns when each has had one
more attempt. ``intent()`` runs Xero's "intent to receive" check.
"""
import base64
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import string
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

TIMEOUT = 5.0  # Xero expects an answer within 5 seconds.
MAX_DELAY = 60.0
MAX_EVENTS_PER_BATCH = 100
FINISHED_LIMIT = 5000
RESOURCE_URL = "https://api.xero.com/api.xro/2.0/{collection}/{resource_id}"
COLLECTIONS = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}
USER_AGENT = "Xero-Webhooks (xero_sandbox)"


def sign(body: bytes, key: str) -> str:
    """Xero's ``x-xero-signature``: base64 of the HMAC-SHA256 of the raw body with the webhook key."""
    return base64.b64encode(hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def new_webhook_key() -> str:
    """A key shaped like the ones Xero shows for a new webhook (88 characters of base64)."""
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))


def event_date(moment: datetime) -> str:
    """As Xero writes ``eventDateUtc``: UTC, milliseconds, no offset (``2025-12-02T00:44:09.923``)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def event(tenant_id: str, category: str, resource_id: str, event_type: str, moment: datetime, data=None) -> dict:
    body = {
        "resourceUrl": RESOURCE_URL.format(collection=COLLECTIONS[category], resource_id=resource_id),
        "resourceId": resource_id,
        "eventDateUtc": event_date(moment),
        "eventType": event_type,
        "eventCategory": category,
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
    }
    if data is not None:
        body["data"] = data
    return body


@dataclass
class Delivery:
    """One batch for one app, sent until the receiver takes it (or we give up)."""

    delivery_id: int
    client_id: str
    url: str
    body: bytes
    signature: str
    first_sequence: int
    last_sequence: int
    event_count: int
    created: str
    status: str = "pending"  # pending, delivered, failed (given up)
    attempts: list[dict] = field(default_factory=list)
    next_attempt: float = 0.0  # time.monotonic()
    forced: bool = False

    def as_dict(self) -> dict:
        return {
            "id": self.delivery_id,
            "client_id": self.client_id,
            "url": self.url,
            "status": self.status,
            "events": self.event_count,
            "firstEventSequence": self.first_sequence,
            "lastEventSequence": self.last_sequence,
            "signature": self.signature,
            "body": self.body.decode("utf-8"),
            "created": self.created,
            "attempts": list(self.attempts),
            "received_status": self.attempts[-1]["status"] if self.attempts else None,
        }


@dataclass
class _AppQueue:
    events: deque = field(default_factory=deque)
    batches: deque = field(default_factory=deque)
    next_sequence: int = 1


class Webhooks:
    """Queues, batches and delivers webhook events; ``config()`` gives the sandbox's current settings."""

    def __init__(self, config, on_batch=None):
        self._config = config
        self._on_batch = on_batch  # called with each new batch's payload (OpenAPI checks)
        self._cond = threading.Condition()
        self._apps: dict[str, _AppQueue] = {}
        self._finished: deque = deque(maxlen=FINISHED_LIMIT)
        self._intent_checks: list[dict] = []
        self._next_id = 1
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    # Producing events ------------------------------------------------------------------------

    def publish(self, client_ids: list[str], events: list[dict]) -> None:
        """Queue ``events`` (already built) for each subscribed app."""
        if not events or not client_ids:
            return
        with self._cond:
            for client_id in client_ids:
                queue = self._apps.setdefault(client_id, _AppQueue())
                queue.events.extend(events)
            self._start()
            self._cond.notify_all()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="xero-sandbox-webhooks", daemon=True)
            self._thread.start()

    # Reading and control ---------------------------------------------------------------------

    def state(self) -> dict:
        with self._cond:
            pending = [d for queue in self._apps.values() for d in queue.batches]
            deliveries = sorted(list(self._finished) + pending, key=lambda d: d.delivery_id)
            return {
                "apps": [
                    {"client_id": client_id, "queued_events": len(queue.events),
                     "pending_batches": len(queue.batches), "next_sequence": queue.next_sequence}
                    for client_id, queue in self._apps.items()
                ],
                "deliveries": [d.as_dict() for d in deliveries],
                "intent_checks": list(self._intent_checks),
            }

    def reset(self) -> None:
        with self._cond:
            self._apps.clear()
            self._finished.clear()
            self._intent_checks.clear()
            self._next_id = 1
            self._generation += 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT + 1)

    def flush(self, timeout: float = 10.0) -> bool:
        """Batch every queued event and try every waiting batch now; True once each had an attempt."""
        deadline = time.monotonic() + timeout
        with self._cond:
            generation = self._generation
            for client_id, queue in self._apps.items():
                while queue.events:
                    self._form_batch(client_id, queue)
            targets = []
            for queue in self._apps.values():
                for delivery in queue.batches:
                    delivery.forced = True
                targets.append([(delivery, len(delivery.attempts)) for delivery in queue.batches])
            if any(targets):
                self._start()
            self._cond.notify_all()
            while generation == self._generation and not all(_settled(batches) for batches in targets):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # Delivering ------------------------------------------------------------------------------

    def _form_batch(self, client_id: str, queue: _AppQueue) -> Delivery | None:
        client = self._config().client(client_id)
        if client is None or not client.webhook_url or not client.webhook_key:
            queue.events.clear()
            return None
        events = [queue.events.popleft() for _ in range(min(len(queue.events), MAX_EVENTS_PER_BATCH))]
        first = queue.next_sequence
        queue.next_sequence += len(events)
        payload = {"events": events, "firstEventSequence": first, "lastEventSequence": first + len(events) - 1,
                   "entropy": _entropy()}
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        delivery = Delivery(
            delivery_id=self._next_id, client_id=client_id, url=client.webhook_url, body=body,
            signature=sign(body, client.webhook_key), first_sequence=first,
            last_sequence=first + len(events) - 1, event_count=len(events),
            created=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            next_attempt=time.monotonic(),
        )
        self._next_id += 1
        queue.batches.append(delivery)
        return delivery

    def _next_due(self) -> tuple[Delivery | None, float | None]:
        """The first app's head batch that is due (forming it from queued events if needed), or how
        long to wait for the earliest retry (None: nothing to do)."""
        now = time.monotonic()
        wait = None
        for client_id, queue in list(self._apps.items()):
            if not queue.batches and queue.events:
                self._form_batch(client_id, queue)
            if not queue.batches:
                continue
            head = queue.batches[0]
            if head.forced or head.next_attempt <= now:
                return head, None
            wait = head.next_attempt - now if wait is None else min(wait, head.next_attempt - now)
        return None, wait

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                delivery, wait = self._next_due()
                if delivery is None:
                    self._cond.wait(wait)
                    continue
                generation = self._generation
                first_try = not delivery.attempts
            if first_try and self._on_batch is not None:
                self._on_batch(json.loads(delivery.body))
            attempt = post(delivery.url, delivery.body, delivery.signature)
            with self._cond:
                if generation != self._generation:
                    continue
                self._record(delivery, attempt)
                self._cond.notify_all()

    def _record(self, delivery: Delivery, attempt: dict) -> None:
        delivery.attempts.append(attempt)
        delivery.forced = False
        config = self._config()
        status = attempt["status"]
        if status is not None and 200 <= status < 300:
            delivery.status = "delivered"
        elif len(delivery.attempts) >= config.webhook_max_attempts:
            delivery.status = "failed"
        else:
            delay = min(config.webhook_retry_seconds * 2 ** (len(delivery.attempts) - 1), MAX_DELAY)
            delivery.next_attempt = time.monotonic() + delay
        logger.info(
            "webhook batch %s (events %s-%s) to %s: attempt %s, %s%s", delivery.delivery_id,
            delivery.first_sequence, delivery.last_sequence, delivery.url, len(delivery.attempts),
            status if status is not None else attempt["error"],
            "" if delivery.status == "pending" else f", {delivery.status}",
        )
        if delivery.status != "pending":
            queue = self._apps.get(delivery.client_id)
            if queue is not None and queue.batches and queue.batches[0] is delivery:
                queue.batches.popleft()
            self._finished.append(delivery)

    # Intent to receive -----------------------------------------------------------------------

    def intent(self, client) -> dict:
        """Xero's check before it enables a webhook: an empty batch signed correctly must get 200 and
        one signed with another key 401, each within 5 seconds."""
        result = {"client_id": client.client_id, "url": client.webhook_url}
        if not client.webhook_url or not client.webhook_key:
            return dict(result, ok=False, problems=["the app has no webhook_url and webhook_key"])
        checks = {}
        for name, key in (("correctly_signed", client.webhook_key), ("incorrectly_signed", new_webhook_key())):
            # Xero's own intent-to-receive payloads carry sequence numbers 0 (the schema says at least 1).
            payload = {"events": [], "firstEventSequence": 0, "lastEventSequence": 0, "entropy": _entropy()}
            body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            checks[name] = post(client.webhook_url, body, sign(body, key))
        problems = []
        for name, expected in (("correctly_signed", 200), ("incorrectly_signed", 401)):
            got = checks[name]
            if got["status"] != expected:
                problems.append(f"{name.replace('_', ' ')} payload: expected {expected}, got "
                                f"{got['status'] if got['status'] is not None else got['error']}")
            elif got["seconds"] > TIMEOUT:
                problems.append(f"{name.replace('_', ' ')} payload: answered after {got['seconds']:.1f}s")
        result.update(checks, ok=not problems, problems=problems)
        logger.info("webhook intent to receive %s: %s", client.webhook_url, "OK" if not problems else problems)
        with self._cond:
            self._intent_checks.append(result)
        return result


def _settled(batches: list[tuple[Delivery, int]]) -> bool:
    """One app's batches (with their attempt counts when the flush began) are settled when all are
    finished, or when the first unfinished one has been tried again (it holds back the others)."""
    for delivery, tried in batches:
        if delivery.status == "pending":
            return len(delivery.attempts) > tried
    return True


def post(url: str, body: bytes, signature: str) -> dict:
    """POST one payload as Xero does; never raises: the outcome (status or error) is returned."""
    started = time.monotonic()
    at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    outcome = {"at": at, "status": None, "error": None, "response": None}
    try:
        connection = connection_class(parts.hostname, parts.port, timeout=TIMEOUT)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", path, body=body, headers={
                "Content-Type": "application/json; charset=utf-8",
                "x-xero-signature": signature,
                "User-Agent": USER_AGENT,
            })
            response = connection.getresponse()
            outcome["status"] = response.status
            outcome["response"] = response.read(2000).decode("utf-8", "replace")
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as error:
        outcome["error"] = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    outcome["seconds"] = round(time.monotonic() - started, 3)
    return outcome
