"""The Celery application. Settings come from Django's settings under the CELERY_ namespace."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena_xero.settings")

app = Celery("arena_xero")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_broker_folders(sender: Celery, **kwargs) -> None:
    """The file broker (no Redis) needs its folders before the first message; settings create nothing."""
    if sender.conf.broker_url.startswith("filesystem://"):
        options = sender.conf.broker_transport_options
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@setup_logging.connect
def _log_like_django(**kwargs) -> None:
    """The worker and beat log through Django's LOGGING (same lines, same UTC times) instead of Celery's
    own set-up (a receiver here makes Celery leave logging alone)."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
