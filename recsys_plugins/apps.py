from django.apps import AppConfig
from django.core import checks


class RecsysPluginsConfig(AppConfig):
    name = "recsys_plugins"
    verbose_name = "Ranking plugins"

    def ready(self) -> None:
        from .checks import plugins_load

        checks.register(plugins_load)
