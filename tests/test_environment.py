"""Under CI the suite must run against PostgreSQL and Redis, and fail (never skip) without them."""

import os

import pytest
import redis
from django.conf import settings
from django.db import connection


@pytest.mark.django_db
def test_suite_runs_against_the_configured_services():
    if os.environ.get("CI"):
        assert os.environ.get("DATABASE_URL", "").startswith("postgres"), "CI must set DATABASE_URL=postgres://..."
        assert os.environ.get("REDIS_URL"), "CI must set REDIS_URL=redis://..."
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert connection.vendor == "postgresql"
    else:
        assert connection.vendor == "sqlite"
    if settings.REDIS_URL:
        assert redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        assert settings.CELERY_BROKER_URL.startswith("redis://")
    else:
        assert settings.CELERY_BROKER_URL.startswith("filesystem://")
