"""The settings of hearing back from Xero (accounting/imports.py): how often beat reads the payments entered in
Xero (or never, 0), and bad values refused at start. Each case starts a fresh process."""

from tests.test_settings import production_secrets, settings_in, start


def test_beat_reads_payments_entered_in_xero_every_fifteen_minutes_unless_told_otherwise(tmp_path):
    secrets = {**production_secrets(), "XERO_RECONCILE_SCHEDULE": "off"}  # a crontab is not JSON
    default = settings_in(secrets, "CELERY_BEAT_SCHEDULE", tmp_path=tmp_path)["CELERY_BEAT_SCHEDULE"]
    off = settings_in({**secrets, "XERO_IMPORT_POLL_SECONDS": "0"}, "CELERY_BEAT_SCHEDULE", tmp_path=tmp_path)[
        "CELERY_BEAT_SCHEDULE"
    ]

    assert default["import-xero-payments"]["task"] == "accounting.tasks.poll_xero_payments"
    assert default["import-xero-payments"]["schedule"] == 900.0
    assert "import-xero-payments" not in off


def test_a_negative_poll_or_no_pages_is_refused_at_start(tmp_path):
    result = start({**production_secrets(), "XERO_IMPORT_PAGES_PER_READ": "0"}, "check", tmp_path=tmp_path)

    assert result.returncode != 0
    assert "XERO_IMPORT_PAGES_PER_READ a number of pages (1 or more)" in result.stderr
