"""A stateful, Xero-compatible stand-in for the Xero identity and accounting APIs.

Run it with ``python -m xero_sandbox`` (see README.md) or build the WSGI app with
:func:`xero_sandbox.app.create_app`. Tests start it in-process with
:class:`xero_sandbox.testing.SandboxServer`. The package never imports the Django project.
"""
