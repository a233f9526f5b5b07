"""Run the sandbox inside a test process and drive it: ``SandboxServer`` plus consent helpers.

    with SandboxServer() as server:
        token = server.connect()                      # full OAuth flow over HTTP, first organisation
        server.add_fault(method="PUT", path="/api.xro/2.0/Invoices", status=503)
"""
import base64
import hashlib
import json
import secrets
import threading
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from werkzeug.serving import make_server

from .app import create_app
from .config import DEFAULT_REDIRECT_URIS, SandboxConfig
from .logs import QuietRequestHandler
from .seed import ORG1_TENANT_ID, ORG2_TENANT_ID

DEFAULT_SCOPES = (
    "openid profile email offline_access accounting.invoices accounting.payments "
    "accounting.banktransactions accounting.contacts accounting.settings.read"
)


class EditRefused(Exception):
    """An edit "by a person in Xero" was refused (400: Xero would not allow it; 404: no such record)."""

    def __init__(self, status: int, body: dict):
        super().__init__(body.get("error"))
        self.status = status
        self.messages = body.get("messages") or [body.get("error")]


class SandboxServer:
    """The sandbox on a free local port, served by a background thread."""

    tenant_ids = {"Organisation 1": ORG1_TENANT_ID, "Organisation 2": ORG2_TENANT_ID}

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0, quiet: bool = True):
        self.config = config or SandboxConfig()
        self.app = create_app(self.config)
        handler = QuietRequestHandler if quiet else None
        self._server = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="xero-sandbox", daemon=True)
        self.http = requests.Session()

    @property
    def sandbox(self):
        """The in-process Sandbox object (for white-box inspection; prefer the control API)."""
        return self.app.extensions["xero_sandbox"]

    @property
    def client_id(self) -> str:
        return self.config.clients[0].client_id

    @property
    def client_secret(self) -> str:
        return self.config.clients[0].client_secret

    @property
    def redirect_uri(self) -> str:
        uris = self.config.clients[0].redirect_uris
        return uris[0] if uris else DEFAULT_REDIRECT_URIS[0]

    def start(self) -> "SandboxServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sandbox.faults.clear()
        self.sandbox.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.http.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # Control API ------------------------------------------------------------------------------

    def _control(self, method: str, path: str, json=None):
        response = self.http.request(method, f"{self.url}/_sandbox{path}", json=json, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self, config: bool = True) -> None:
        """State, faults, request log, violations and clock back to the start (config too by default)."""
        self._control("POST", "/reset", {"config": config})

    def state(self) -> dict:
        return self._control("GET", "/state")

    def org_state(self, tenant_id: str = ORG1_TENANT_ID) -> dict:
        """One organisation's part of ``state()``: contacts, invoices, payments... in Xero's JSON."""
        return next(o for o in self.state()["organisations"] if o["tenant_id"] == tenant_id)

    def requests_log(self) -> list[dict]:
        return self._control("GET", "/requests")

    def clear_requests_log(self) -> None:
        self._control("DELETE", "/requests")

    def add_fault(self, *, path: str, method: str | None = None, mode: str = "status", **options) -> dict:
        """Make the next ``count`` (default 1) calls matching ``method`` and ``path`` fail.

        ``path`` is exact unless it ends with ``*`` (prefix). Options: status, count (None = every
        call), delay, retry_after, problem, body, headers.
        """
        spec = {"path": path, "method": method, "mode": mode, **options}
        return self._control("POST", "/faults", spec)[0]

    def clear_faults(self) -> None:
        self._control("DELETE", "/faults")

    def advance_clock(self, seconds: float) -> dict:
        return self._control("POST", "/clock", {"advance_seconds": seconds})

    def configure(self, **settings) -> dict:
        """Change settings (access_token_ttl, minute_limit, time_scale, redirect_uris...); returns them all."""
        return self._control("POST", "/config", settings)

    def get_config(self) -> dict:
        return self._control("GET", "/config")

    def revoke_connection(self, connection_id: str | None = None, *, tenant_id: str | None = None) -> list[str]:
        """Remove a connection "from Xero's side" (by id, or every connection to a tenant)."""
        if connection_id:
            return self._control("POST", f"/connections/{connection_id}/revoke")["revoked"]
        return self._control("POST", "/connections/revoke", {"tenant_id": tenant_id})["revoked"]

    # Changes made "by a person in Xero" (see xero_sandbox/edits.py) --------------------------

    def edit(self, action: str, tenant_id: str = ORG1_TENANT_ID, **fields) -> dict:
        """Apply an edit; returns the changed records, raises :class:`EditRefused` if refused."""
        response = self.http.post(f"{self.url}/_sandbox/organisations/{tenant_id}/edits",
                                  json={"action": action, **fields}, timeout=10)
        if response.status_code in (400, 404):
            raise EditRefused(response.status_code, response.json())
        response.raise_for_status()
        return response.json()

    def void_invoice(self, invoice: str, tenant_id: str = ORG1_TENANT_ID) -> dict:
        """Void an invoice (InvoiceID or InvoiceNumber); returns it in Xero's JSON."""
        return self.edit("void_invoice", tenant_id, invoice=invoice)["Invoices"][0]

    def edit_invoice_line(self, invoice: str, line=0, tenant_id: str = ORG1_TENANT_ID, **changes) -> dict:
        """Change ``unit_amount``, ``quantity``, ``description`` or ``account_code`` of a line (index or LineItemID)."""
        return self.edit("edit_invoice_line", tenant_id, invoice=invoice, line=line, **changes)["Invoices"][0]

    def apply_payment(self, invoice: str, amount, tenant_id: str = ORG1_TENANT_ID, **fields) -> dict:
        """A person applies a payment to an invoice (InvoiceID or InvoiceNumber): ``amount`` and optionally
        ``account`` (bank account code), ``date`` (YYYY-MM-DD) and ``reference``; returns the payment."""
        return self.edit("apply_payment", tenant_id, invoice=invoice, amount=str(amount), **fields)["Payments"][0]

    def enter_overpayment(self, contact: str, amount, tenant_id: str = ORG1_TENANT_ID, **fields) -> dict:
        """A person records money received from a contact as its credit (an overpayment); returns it."""
        changed = self.edit("enter_overpayment", tenant_id, contact=contact, amount=str(amount), **fields)
        return changed["Overpayments"][0]

    def enter_prepayment(self, contact: str, amount, tenant_id: str = ORG1_TENANT_ID, **fields) -> dict:
        """A person records money received in advance from a contact (a prepayment); returns it."""
        changed = self.edit("enter_prepayment", tenant_id, contact=contact, amount=str(amount), **fields)
        return changed["Prepayments"][0]

    def enter_credit_note(self, invoice: str, amount, tenant_id: str = ORG1_TENANT_ID, **fields) -> dict:
        """A person credits an invoice (InvoiceID or InvoiceNumber) by ``amount``, tax included: an AUTHORISED
        credit note allocated to it up to what it owes; returns the credit note."""
        changed = self.edit("enter_credit_note", tenant_id, invoice=invoice, amount=str(amount), **fields)
        return changed["CreditNotes"][0]

    def delete_payment(self, payment_id: str, tenant_id: str = ORG1_TENANT_ID) -> dict:
        return self.edit("delete_payment", tenant_id, payment=payment_id)["Payments"][0]

    def archive_account(self, account: str, tenant_id: str = ORG1_TENANT_ID) -> dict:
        """Archive an account (Code or AccountID)."""
        return self.edit("archive_account", tenant_id, account=account)["Accounts"][0]

    def archive_contact(self, contact: str, tenant_id: str = ORG1_TENANT_ID) -> dict:
        """Archive a contact (ContactID, ContactNumber or Name)."""
        return self.edit("archive_contact", tenant_id, contact=contact)["Contacts"][0]

    def merge_contacts(self, contact: str, into: str, tenant_id: str = ORG1_TENANT_ID) -> list[dict]:
        """Merge ``contact`` into ``into``; returns both (the merged one first)."""
        return self.edit("merge_contacts", tenant_id, contact=contact, into=into)["Contacts"]

    def set_lock_dates(self, tenant_id: str = ORG1_TENANT_ID, **dates) -> dict:
        """``period_lock_date`` / ``end_of_year_lock_date``: a date, ``YYYY-MM-DD`` text, or None to clear."""
        fields = {k: (v.isoformat() if hasattr(v, "isoformat") else v or "") for k, v in dates.items()}
        return self.edit("set_lock_dates", tenant_id, **fields)

    def set_plan(self, plan: str, tenant_id: str = ORG1_TENANT_ID) -> dict:
        return self.edit("set_plan", tenant_id, plan=plan)

    def set_day_limit(self, limit: int | None, tenant_id: str = ORG1_TENANT_ID) -> dict:
        """Xero's daily call limit for one organisation (None: back to the config's ``day_limit``)."""
        return self._control("POST", f"/organisations/{tenant_id}/limits", json={"day_limit": limit})

    def organisations(self) -> list[dict]:
        """``GET /_sandbox/organisations``: tenant id, name, country and currency, in consent-page order."""
        return self._control("GET", "/organisations")["organisations"]

    def add_organisations(self, count: int) -> list[dict]:
        """Make sure Organisation 1..``count`` exist (``POST /_sandbox/organisations``); returns them all."""
        return self._control("POST", "/organisations", {"count": count})["organisations"]

    def stats(self) -> dict:
        """``GET /_sandbox/stats``: calls, 429s and peaks per organisation (``tenants``) and per app."""
        return self._control("GET", "/stats")

    def tenant_stats(self, tenant_id: str = ORG1_TENANT_ID) -> dict:
        return self.stats()["tenants"].get(tenant_id, {})

    def clear_stats(self) -> None:
        self._control("DELETE", "/stats")

    # Webhooks --------------------------------------------------------------------------------

    def webhooks(self) -> dict:
        """``GET /_sandbox/webhooks``: ``deliveries`` (body, signature, status, attempts), ``apps``, intent checks."""
        return self._control("GET", "/webhooks")

    def flush_webhooks(self, timeout: float = 10.0) -> list[dict]:
        """Send what is queued and retry what waits, now; returns every delivery once each had an attempt."""
        response = self.http.post(f"{self.url}/_sandbox/webhooks/flush", json={"timeout": timeout},
                                  timeout=timeout + 10)
        response.raise_for_status()
        data = response.json()
        if not data["flushed"]:
            raise TimeoutError(f"webhook deliveries still waiting after {timeout}s")
        return data["deliveries"]

    def webhook_events(self) -> list[dict]:
        """Every event of the batches delivered so far (after a flush), in sequence order."""
        delivered = [d for d in self.flush_webhooks() if d["status"] == "delivered"]
        return [event for d in delivered for event in json.loads(d["body"])["events"]]

    def check_webhook_intent(self, client_id: str | None = None) -> dict:
        """Xero's intent-to-receive check: ``ok`` when the receiver answered 200 and 401 in time."""
        return self._control("POST", "/webhooks/intent", {"client_id": client_id} if client_id else {})

    def violations(self) -> list[dict]:
        return self._control("GET", "/violations")["violations"]

    def clear_violations(self) -> None:
        self._control("DELETE", "/violations")

    def wait_for(self, predicate, timeout: float = 5.0, interval: float = 0.01):
        """Poll ``predicate()`` until it returns something truthy (no fixed sleeps in tests)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met within %.1fs" % timeout)
            time.sleep(interval)

    # OAuth helpers ----------------------------------------------------------------------------

    def authorize_url(self, *, scope: str = DEFAULT_SCOPES, state: str = "state-123", redirect_uri: str | None = None,
                      code_challenge: str | None = None, client_id: str | None = None, **extra) -> str:
        params = {
            "response_type": "code", "client_id": client_id or self.client_id,
            "redirect_uri": redirect_uri or self.redirect_uri, "scope": scope, "state": state, **extra,
        }
        if code_challenge:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        return f"{self.url}/identity/connect/authorize?{urlencode(params)}"

    def consent(self, authorize_url: str, tenant_ids=None, action: str = "allow") -> str:
        """Open the consent page like a browser and click Allow (with ``tenant_ids``) or Cancel.

        Returns the redirect Location (the app's callback URL with ``code`` or ``error``).
        ``tenant_ids=None`` keeps the page's default choice (the first organisation).
        """
        return consent(authorize_url, tenant_ids=tenant_ids, action=action, session=self.http)

    def connect(self, tenant_ids=None, scope: str = DEFAULT_SCOPES) -> dict:
        """Authorise, consent and exchange the code (with PKCE); returns the token response
        plus ``expires_at`` (real epoch seconds), as xero-python expects it stored."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        location = self.consent(self.authorize_url(scope=scope, code_challenge=challenge), tenant_ids=tenant_ids)
        query = parse_qs(urlsplit(location).query)
        if "code" not in query:
            raise RuntimeError(f"consent did not return a code: {location}")
        response = self.http.post(f"{self.url}/connect/token", data={
            "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
        }, auth=(self.client_id, self.client_secret), timeout=10)
        response.raise_for_status()
        token = response.json()
        token["expires_at"] = time.time() + token["expires_in"]
        return token


class _ConsentForm(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action = None
        self.hidden: list[tuple[str, str]] = []
        self.checked: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.action = attributes.get("action")
        if tag == "input" and attributes.get("type") == "hidden":
            self.hidden.append((attributes["name"], attributes.get("value", "")))
        if tag == "input" and attributes.get("type") == "checkbox" and "checked" in attributes:
            self.checked.append(attributes["value"])


def consent(authorize_url: str, tenant_ids=None, action: str = "allow", session=None) -> str:
    """GET the consent page, then POST its form as a person clicking a button would."""
    http = session or requests.Session()
    page = http.get(authorize_url, allow_redirects=False, timeout=10)
    if page.status_code in (301, 302, 303):
        return page.headers["Location"]
    if page.status_code != 200:
        raise RuntimeError(f"authorise page failed ({page.status_code}): {page.text[:300]}")
    form = _ConsentForm()
    form.feed(page.text)
    chosen = form.checked if tenant_ids is None else list(tenant_ids)
    fields = form.hidden + [("tenant_id", t) for t in chosen] + [("action", action)]
    parts = urlsplit(authorize_url)
    target = f"{parts.scheme}://{parts.netloc}{form.action}"
    response = http.post(target, data=fields, allow_redirects=False, timeout=10)
    if response.status_code != 302:
        raise RuntimeError(f"consent was not accepted ({response.status_code}): {response.text[:300]}")
    return response.headers["Location"]
