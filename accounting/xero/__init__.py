"""The only code that talks to Xero: OAuth (requests-oauthlib) in oauth.py, the API (xero-python) in
client.py, the sorting of failures in errors.py, and which URLs may be called in endpoints.py."""
