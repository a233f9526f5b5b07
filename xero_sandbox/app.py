"""The sandbox's WSGI application: ``create_app(config)`` wires the blueprints and the hooks that
apply faults to identity paths, log every call, check OpenAPI conformance and drop connections.

The sandbox's own paths (the control API, the pages for people, the favicon) are not Xero's API:
they are never faulted, logged or validated, and the rate limiter only sees the accounting API."""
import json

from flask import Flask, Response, g, request

from . import api, control, identity, logs, pages
from .config import SandboxConfig, config_from_env
from .errors import XeroError
from .faults import drop_connection, status_response_parts
from .sandbox import Sandbox
from .wire import dumps, rfc3339

LOGGED_HEADERS = ("xero-tenant-id", "Idempotency-Key", "If-Modified-Since", "Content-Type", "User-Agent")


def create_app(config: SandboxConfig | None = None) -> Flask:
    app = Flask(__name__, template_folder="templates")
    app.extensions["xero_sandbox"] = Sandbox(config or config_from_env())
    app.register_blueprint(identity.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(pages.bp)
    app.before_request(logs.start_timer)
    app.before_request(_note_generation)
    app.before_request(_fault_outside_accounting)
    app.after_request(_record)
    app.after_request(logs.log_request)
    app.register_error_handler(XeroError, _xero_error)
    return app


def _xero_error(error: XeroError) -> Response:
    response = Response(dumps(error.body), status=error.status, mimetype="application/json")
    response.headers.update(error.headers)
    return response


def _is_own_path(path: str) -> bool:
    """The sandbox's own paths rather than Xero's: the control API and the pages for people (the overview,
    deep links and the record pages they open, the favicon)."""
    return path.startswith("/_sandbox") or pages.is_page(path)


def _fault_outside_accounting():
    """Faults on identity paths; the accounting API applies its own after the rate limiter."""
    path = request.path
    if _is_own_path(path) or path.lower().startswith("/api.xro/"):
        return None
    hit = identity.sandbox().faults.take(request.method, path)
    if hit is None:
        return None
    g.fault = hit.fault.mode
    if hit.fault.mode == "status":
        status, body, headers = status_response_parts(hit.fault, path)
        response = Response(dumps(body), status=status, mimetype="application/json")
        response.headers.update(headers)
        return response
    if hit.fault.mode == "timeout":
        hit.hold()
        drop_connection(request.environ)
        return Response(status=504)
    if hit.fault.mode == "slow":
        hit.hold()
    elif hit.fault.mode == "drop_response":
        g.drop_connection = True
    return None  # status_after applies to the accounting API only


def _note_generation() -> None:
    g.generation = identity.sandbox().generation


def _record(response: Response) -> Response:
    path = request.path
    if _is_own_path(path):
        return response
    box = identity.sandbox()
    if g.get("generation") != box.generation:
        # It began before a reset (e.g. a timeout fault's request, answered after its client gave up and the
        # next test reset the sandbox): it belongs to the books, log and stats the reset cleared, not these.
        return response
    if box.config.request_log:
        box.log_request(_log_entry(box, response))
    if path.lower().startswith("/api.xro/"):
        tenant_id = (request.headers.get("xero-tenant-id") or "").strip().lower()
        box.stats.call(tenant_id if box.book(tenant_id) else "(unknown)", g.get("client_id"),
                       g.get("endpoint") or f"{request.method} ?", response.status_code, bool(g.get("fault")))
    if box.config.validate_openapi and _conformance_in_scope(path):
        _check_conformance(box, response)
    if g.get("drop_connection"):
        drop_connection(request.environ)
    return response


def _log_entry(box, response: Response) -> dict:
    entry = {
        "time": rfc3339(box.clock.now()),
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode("latin-1"),
        "args": {key: request.args.getlist(key) for key in request.args},
        "headers": {name: request.headers[name] for name in LOGGED_HEADERS if name in request.headers},
        "auth": (request.headers.get("Authorization") or "").split(" ", 1)[0] or None,
        "status": response.status_code,
        "fault": g.get("fault"),
        "idempotent_replay": bool(g.get("idempotent_replay")),
        "rate_limited": g.get("rate_limited"),
    }
    if request.path.lower().startswith("/api.xro/") and request.method in ("PUT", "POST"):
        try:
            entry["body"] = json.loads(request.get_data() or b"null")
        except ValueError:
            entry["body"] = request.get_data(as_text=True)
    if request.path.startswith("/connect/"):
        entry["grant_type"] = request.form.get("grant_type")
    return entry


def _conformance_in_scope(path: str) -> bool:
    from .conformance import in_scope

    return in_scope(path)


def _check_conformance(box, response: Response) -> None:
    from .conformance import check

    injected = g.get("fault") in ("status", "timeout")
    found = check(
        request.method, request.path, request.args.items(multi=True), request.headers.items(),
        request.get_data(), request.content_type, response.status_code,
        response.get_data(), response.content_type, response.headers.items(),
        check_response=not injected,
    )
    box.add_violations(found)
