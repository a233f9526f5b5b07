"""The drift settings: the webhook key (a placeholder is refused without debug) and the nightly reconcile's
schedule (cron's five fields in TIME_ZONE, or off). Each case starts a fresh process."""

import pytest

from tests.test_settings import production_secrets, settings_in, start


def test_the_nightly_reconcile_runs_at_three_by_default_and_the_schedule_is_configurable(tmp_path):
    assert settings_in(production_secrets(), "XERO_RECONCILE_SCHEDULE", tmp_path=tmp_path) == {
        "XERO_RECONCILE_SCHEDULE": "0 3 * * *"
    }
    code = (
        "from django.conf import settings; s = settings.CELERY_BEAT_SCHEDULE.get('reconcile-xero');"
        "print(s and (s['task'], sorted(s['schedule'].hour), sorted(s['schedule'].minute),"
        " sorted(s['schedule'].day_of_week)))"
    )
    result = start(
        {**production_secrets(), "XERO_RECONCILE_SCHEDULE": "30 1 * * 1-5"}, "shell", "-c", code, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "('accounting.tasks.reconcile_all', [1], [30], [1, 2, 3, 4, 5])"
    off = settings_in(
        {**production_secrets(), "XERO_RECONCILE_SCHEDULE": "off"}, "CELERY_BEAT_SCHEDULE", tmp_path=tmp_path
    )
    assert "reconcile-xero" not in off["CELERY_BEAT_SCHEDULE"]
    assert {"sweep-xero-outbox", "import-xero-payments"} <= set(off["CELERY_BEAT_SCHEDULE"])


@pytest.mark.parametrize("schedule", ["0 3 * *", "61 3 * * *", "nightly"])
def test_a_schedule_that_is_not_cron_stops_the_app(schedule, tmp_path):
    result = start({**production_secrets(), "XERO_RECONCILE_SCHEDULE": schedule}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "XERO_RECONCILE_SCHEDULE is cron's five fields" in result.stderr


def test_a_placeholder_webhook_key_stops_the_app_without_debug(tmp_path):
    environment = {**production_secrets(), "XERO_WEBHOOK_KEY": "insecure-local-webhook-key-for-make-run-only"}
    refused = start(environment, tmp_path=tmp_path)
    assert refused.returncode != 0 and "XERO_WEBHOOK_KEY is a placeholder" in refused.stderr
    assert start({**environment, "DJANGO_DEBUG": "1"}, tmp_path=tmp_path).returncode == 0
    assert start({**production_secrets(), "XERO_WEBHOOK_KEY": "kQ3" * 30}, tmp_path=tmp_path).returncode == 0
