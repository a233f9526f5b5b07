from django.contrib.admin.apps import AdminConfig


class ArenaAdminConfig(AdminConfig):
    """Django's admin, with Arena's support console as the default site (arena_xero.admin)."""

    default_site = "arena_xero.admin.ArenaAdminSite"

    def ready(self):
        super().ready()
        from . import second_factor  # noqa: F401 - registers its deploy check
