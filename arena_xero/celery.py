"""The Celery application. Settings come from Django's settings under the CELERY_ namespace."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena_xero.settings")

app = Celery("arena_xero")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
