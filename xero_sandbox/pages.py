"""The page for people at ``/``: what each organisation holds, for checking what an app sent.

It shows the same data as the control API's ``GET /_sandbox/state`` (built by
``control._book_state``), rendered as tables, with buttons to void an invoice or delete a payment
"as a person in Xero" (``POST /edits``, the control API's edits). Like the control API it is not
Xero: it is not logged, faulted, rate limited or checked against OpenAPI (see
``app._is_own_path``). The docker health check uses it, so it must stay cheap and always answer 200.
"""
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import urlencode

from flask import Blueprint, make_response, redirect, render_template, request

from . import control, edits
from .identity import connection_json, sandbox
from .seed import USER_EMAIL
from .wire import parse_date, parse_datetime

bp = Blueprint("pages", __name__)

PATHS = frozenset({"/", "/edits"})
# What the page's buttons may do (the control API's edits route can do more).
PAGE_ACTIONS = {"void_invoice": "Invoice voided.", "delete_payment": "Payment deleted."}
# Rows per table: the newest records only, so the page (and the health check) stays quick on books
# filled by benchmarks. /_sandbox/state has everything.
ROW_LIMIT = 200
COLLECTIONS = ("contacts", "invoices", "credit_notes", "payments", "bank_transactions", "overpayments", "prepayments")


@bp.get("/")
def home():
    box = sandbox()
    with box.lock:
        now = box.clock.now()
        organisations = [
            dict(
                control._book_state(book, box.clock.today(), limit=ROW_LIMIT),
                totals={name: len(getattr(book, name)) for name in COLLECTIONS},
            )
            for book in box.books.values()
        ]
        connections = [connection_json(box, c) for c in box.identity.connections.values()]
    html = render_template(
        "home.html", organisations=organisations, connections=connections, now=now, user_email=USER_EMAIL,
        notice=request.args.get("notice"), error=request.args.get("error"),
    )
    response = make_response(html)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/edits")
def edit():
    """A button on the page: apply the edit, then go back to the page with what happened."""
    tenant_id = request.form.get("tenant_id", "")
    data = {key: value for key, value in request.form.items() if key != "tenant_id"}
    if data.get("action") not in PAGE_ACTIONS:
        return _back(tenant_id, error="Unknown action.")
    with sandbox().changing(tenant_id) as ctx:
        if ctx is None:
            return _back(tenant_id, error="Unknown organisation.")
        try:
            edits.apply(ctx, data)
        except (edits.EditRefused, edits.EditNotFound) as refused:
            return _back(tenant_id, error=str(refused))
    return _back(tenant_id, notice=PAGE_ACTIONS[data["action"]])


def _back(tenant_id: str, **message):
    return redirect(f"/?{urlencode(message)}#org-{tenant_id}", code=303)


@bp.app_template_filter("money")
def money(value) -> str:
    """2 decimals with thousands separators; blank for a missing amount."""
    if value is None or value == "":
        return ""
    return f"{Decimal(str(value)):,.2f}"


@bp.app_template_filter("xero_date")
def xero_date(value) -> str:
    """``/Date(...)/`` or ISO text as ``YYYY-MM-DD``; blank when missing."""
    if not value:
        return ""
    try:
        return parse_date(value).isoformat()
    except (TypeError, ValueError):
        return str(value)


@bp.app_template_filter("xero_datetime")
def xero_datetime(value) -> str:
    """A datetime (or its RFC 3339 / ``/Date(...)/`` text) as ``YYYY-MM-DD HH:MM UTC``."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else parse_datetime(value)
    except (TypeError, ValueError):
        return str(value)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
