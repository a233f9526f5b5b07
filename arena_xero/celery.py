"""The Celery application. Settings come from Django's settings under the CELERY_ namespace."""

import os

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena_xero.settings")

app = Celery("arena_xero")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """The worker logs like the web app (settings.LOGGING: one format, UTC) instead of Celery's own way."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
