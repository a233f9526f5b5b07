"""The control API under /_sandbox: reset, inspect, configure, inject faults, move the clock.

No authentication: it is for tests, demos and benchmarks on a developer machine. Every route is
documented in README.md.
"""
from itertools import islice

from flask import Blueprint, Response, request

from . import edits
from .errors import XeroError
from .faults import parse_fault
from .identity import connection_json, sandbox
from .resources import bank_transactions, contacts, creditnotes, credits, invoices, payments, settings
from .wire import dumps, rfc3339

bp = Blueprint("control", __name__, url_prefix="/_sandbox")


def reply(body, status=200) -> Response:
    return Response(dumps(body), status=status, mimetype="application/json")


def body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise XeroError(400, {"error": "expected a JSON object"})
    return data


def fail(message: str) -> Response:
    return reply({"error": message}, 400)


@bp.get("/health")
def health():
    return reply({"ok": True})


@bp.post("/reset")
def reset():
    sandbox().reset(config=bool(body().get("config")))
    return reply({"ok": True})


@bp.get("/state")
def state():
    box = sandbox()
    with box.lock:
        return reply({
            "now": rfc3339(box.clock.now()),
            "clock_offset": box.clock.offset,
            "organisations": [_book_state(book, box.clock.today()) for book in box.books.values()],
            "connections": [
                dict(connection_json(box, c), clientId=c.client_id) for c in box.identity.connections.values()
            ],
            "tokens": _token_state(box),
            "in_flight": {tenant_id: box.limiter.in_flight(tenant_id) for tenant_id in box.books},
            "faults": box.faults.list(),
        })


def _book_state(book, today, limit: int | None = None) -> dict:
    """One organisation in Xero's JSON. With ``limit``, only the newest ``limit`` records of each
    collection (contacts to prepayments) are rendered, oldest first; balances and credit still
    count everything. The page for people uses that to stay quick on big books."""
    credit = credits.total_credit(book)
    balances = contacts.balances_by_contact(book, today)

    def newest(records: dict) -> list:
        if limit is None or len(records) <= limit:
            return list(records.values())
        return list(islice(reversed(records.values()), limit))[::-1]

    return {
        "tenant_id": book.tenant_id,
        "name": book.organisation.name,
        "country_code": book.organisation.country_code,
        "base_currency": book.organisation.base_currency,
        "organisation": settings.organisation_json(book),
        "accounts": [settings.account_json(a) for a in book.accounts.values()],
        "tax_rates": [settings.tax_rate_json(r) for r in book.tax_rates.values()],
        "contacts": [
            dict(contacts.contact_json(book, c, today, balances), Credit=credit.get(c.contact_id, 0))
            for c in newest(book.contacts)
        ],
        "invoices": [invoices.invoice_json(book, i) for i in newest(book.invoices)],
        "credit_notes": [creditnotes.credit_note_json(book, c) for c in newest(book.credit_notes)],
        "payments": [payments.payment_json(book, p) for p in newest(book.payments)],
        "bank_transactions": [
            bank_transactions.bank_transaction_json(book, t) for t in newest(book.bank_transactions)
        ],
        "overpayments": [credits.credit_json(book, c) for c in newest(book.overpayments)],
        "prepayments": [credits.credit_json(book, c) for c in newest(book.prepayments)],
    }


def _token_state(box) -> dict:
    return {
        "refresh_tokens": [
            {
                "token_prefix": t.token[:8], "client_id": t.client_id, "status": t.status,
                "auth_event_id": t.auth_event_id, "scopes": t.scopes, "issued_at": t.issued_at,
                "rotated_at": t.rotated_at, "expires_at": t.expires_at,
            }
            for t in box.identity.refresh_tokens.values()
        ],
        "grants": box.identity.grants,
        "pending_codes": sum(1 for c in box.identity.codes.values() if not c.used),
    }


@bp.get("/requests")
def requests_log():
    return reply(sandbox().requests())


@bp.delete("/requests")
def clear_requests():
    sandbox().clear_requests()
    return reply({"ok": True})


@bp.get("/config")
def get_config():
    return reply(sandbox().config.public_dict())


@bp.post("/config")
def set_config():
    box = sandbox()
    try:
        box.configure(body())
    except ValueError as error:
        return fail(str(error))
    return reply(box.config.public_dict())


@bp.get("/faults")
def list_faults():
    return reply(sandbox().faults.list())


@bp.post("/faults")
def add_fault():
    data = body()
    specs = data.get("faults", [data])
    try:
        added = [sandbox().faults.add(parse_fault(spec)) for spec in specs]
    except (ValueError, TypeError) as error:
        return fail(str(error))
    return reply([f.as_dict() for f in added], 201)


@bp.delete("/faults")
def clear_faults():
    sandbox().faults.clear()
    return reply({"ok": True})


@bp.get("/clock")
def get_clock():
    box = sandbox()
    return reply({"now": rfc3339(box.clock.now()), "offset": box.clock.offset, "time_scale": box.clock.time_scale})


@bp.post("/clock")
def advance_clock():
    box = sandbox()
    seconds = body().get("advance_seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        return fail("advance_seconds must be a non-negative number")
    box.clock.advance(seconds)
    with box.lock:
        box.save()
    return get_clock()


@bp.post("/connections/<connection_id>/revoke")
def revoke_connection(connection_id):
    box = sandbox()
    with box.lock:
        removed = box.identity.connections.pop(connection_id.lower(), None)
        box.save()
    if removed is None:
        return reply({"error": "no such connection"}, 404)
    return reply({"revoked": [removed.connection_id]})


@bp.post("/connections/revoke")
def revoke_connections():
    box = sandbox()
    data = body()
    tenant_id, client_id = (data.get("tenant_id") or "").lower(), data.get("client_id")
    if not tenant_id:
        return fail("tenant_id is required")
    with box.lock:
        doomed = [
            c.connection_id for c in box.identity.connections.values()
            if c.tenant_id == tenant_id and (client_id is None or c.client_id == client_id)
        ]
        for connection_id in doomed:
            del box.identity.connections[connection_id]
        box.save()
    return reply({"revoked": doomed})


@bp.get("/organisations")
def organisations():
    """The organisations the consent page offers, in its order."""
    box = sandbox()
    with box.lock:
        return reply({"organisations": _organisation_list(box)})


@bp.post("/organisations")
def add_organisations():
    """``{"count": N}``: make sure Organisation 1..N exist (3 and up are copies of Organisation 1's
    settings, each with its own tenant id); existing ones and their books are kept."""
    count = body().get("count")
    if not isinstance(count, int) or isinstance(count, bool):
        return fail("count must be a whole number")
    box = sandbox()
    try:
        box.configure({"organisations": max(count, box.config.organisations)})
    except ValueError as error:
        return fail(str(error))
    with box.lock:
        return reply({"organisations": _organisation_list(box)})


def _organisation_list(box) -> list[dict]:
    return [
        {"tenant_id": tenant_id, "name": book.organisation.name, "country_code": book.organisation.country_code,
         "base_currency": book.organisation.base_currency}
        for tenant_id, book in box.books.items()
    ]


@bp.post("/organisations/<tenant_id>/edits")
def edit(tenant_id):
    """A change made "by a person in Xero" (see ``edits``): 200 with the changed records, 400 with
    Xero's words when Xero would refuse it, 404 for an unknown organisation or record."""
    data = body()
    with sandbox().changing(tenant_id) as ctx:
        if ctx is None:
            return reply({"error": f"no organisation with tenant id {tenant_id}"}, 404)
        try:
            return reply(edits.apply(ctx, data))
        except edits.EditRefused as refused:
            return reply({"error": str(refused), "messages": refused.messages}, 400)
        except edits.EditNotFound as missing:
            return reply({"error": str(missing)}, 404)


@bp.post("/organisations/<tenant_id>/limits")
def organisation_limits(tenant_id):
    """``{"day_limit": N}``: this organisation's daily call limit (null: the config's ``day_limit`` again)."""
    limit = body().get("day_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        return fail("day_limit must be a non-negative whole number, or null")
    box = sandbox()
    with box.lock:
        if box.book(tenant_id) is None:
            return reply({"error": f"no organisation with tenant id {tenant_id}"}, 404)
    box.limiter.set_day_limit(tenant_id.lower(), limit)
    return reply({"tenant_id": tenant_id.lower(), "day_limit": limit})


@bp.get("/stats")
def stats():
    """Calls, 429s and peaks per organisation and per app, since the last reset or clear."""
    return reply(sandbox().stats_snapshot())


@bp.delete("/stats")
def clear_stats():
    sandbox().stats.clear()
    return reply({"ok": True})


@bp.get("/webhooks")
def webhooks():
    """Webhook batches (queued, delivered, given up) with body, signature and every attempt."""
    return reply(sandbox().webhooks.state())


@bp.post("/webhooks/flush")
def flush_webhooks():
    """Send every queued event and retry every waiting batch now; answers once each had an attempt
    (``flushed`` false if ``timeout`` seconds, default 10, ran out first)."""
    timeout = body().get("timeout", 10)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
        return fail("timeout must be a non-negative number of seconds")
    hooks = sandbox().webhooks
    flushed = hooks.flush(timeout)
    return reply(dict(hooks.state(), flushed=flushed))


@bp.post("/webhooks/intent")
def webhook_intent():
    """Xero's intent-to-receive check against an app's webhook URL (the first app, or ``client_id``)."""
    box = sandbox()
    client_id = body().get("client_id")
    client = box.config.client(client_id) if client_id else box.config.clients[0]
    if client is None:
        return fail(f"unknown client_id {client_id!r}")
    return reply(box.webhooks.intent(client))


@bp.get("/violations")
def violations():
    box = sandbox()
    return reply({"enabled": box.config.validate_openapi, "violations": list(box.violations)})


@bp.delete("/violations")
def clear_violations():
    sandbox().clear_violations()
    return reply({"ok": True})
