"""The admin site Aisle installs in place of Django's default one (``config.admin.AisleAdminSite``)."""

from django.contrib.admin.apps import AdminConfig


class AisleAdminConfig(AdminConfig):
    default_site = "config.admin.AisleAdminSite"
