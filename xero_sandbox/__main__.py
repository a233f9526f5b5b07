"""Command line: ``python -m xero_sandbox --host 127.0.0.1 --port 8090 [options]``.

Options override the ``XERO_SANDBOX_*`` environment variables (see README.md).
"""
import argparse
import logging
import os

from werkzeug.serving import run_simple

from . import logs
from .app import create_app
from .config import apply_client_options, config_from_env


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m xero_sandbox", description="A stateful Xero API stand-in.")
    parser.add_argument("--host", default=os.environ.get("XERO_SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("XERO_SANDBOX_PORT", "8090")))
    parser.add_argument("--state-file", help="JSON file keeping organisations and connections across restarts")
    parser.add_argument("--time-scale", type=float, help="how many times faster rate-limit windows run")
    parser.add_argument("--organisations", type=int,
                        help="how many organisations to seed (default 2; 3 and up copy Organisation 1)")
    parser.add_argument("--client-id", help="the registered app's client id")
    parser.add_argument("--client-secret", help="the registered app's client secret")
    parser.add_argument("--redirect-uri", action="append", default=[], help="allowed redirect URI (repeatable)")
    parser.add_argument("--app-name", help="the app name shown on the consent page")
    parser.add_argument("--validate-openapi", action="store_true", help="check traffic against the OpenAPI files")
    parser.add_argument("--webhook-url", help="where to POST the app's webhook events")
    parser.add_argument("--webhook-key", help="the webhook key that signs them (default: a new one)")
    return parser.parse_args(argv)


def build_config(args, environ=None):
    """The settings for a command line: the environment's, overridden by the options given."""
    config = config_from_env(environ)
    if args.state_file:
        config.state_file = args.state_file
    if args.time_scale:
        config.update({"time_scale": args.time_scale})
    if args.organisations:
        config.update({"organisations": args.organisations})
    if args.validate_openapi:
        config.validate_openapi = True
    apply_client_options(
        config, client_id=args.client_id, client_secret=args.client_secret,
        redirect_uris=args.redirect_uri, app_name=args.app_name, webhook_url=args.webhook_url,
        webhook_key=args.webhook_key,
    )
    return config


def main(argv=None) -> None:
    args = parse_args(argv)
    config = build_config(args)
    logs.configure()
    client = config.clients[0]
    logging.getLogger("xero_sandbox").info(
        "Xero sandbox on http://%s:%s (client_id=%s, redirect URIs: %s, webhook: %s)",
        args.host, args.port, client.client_id, ", ".join(client.redirect_uris), client.webhook_url or "none",
    )
    run_simple(args.host, args.port, create_app(config), threaded=True, use_reloader=False, use_debugger=False,
               request_handler=logs.QuietRequestHandler)


if __name__ == "__main__":
    main()
