from django.urls import path

from . import views

app_name = "accounting"

SETTINGS = "account/<slug:whitelabel>/settings/components/accounting-system/"

urlpatterns = [
    path("account/settings/components/accounting-system/", views.settings_home, name="settings_home"),
    path(SETTINGS, views.accounting_settings, name="settings"),
]
