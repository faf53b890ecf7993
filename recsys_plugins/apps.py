from django.apps import AppConfig


class RecsysPluginsConfig(AppConfig):
    name = "recsys_plugins"
    verbose_name = "Ranking plugins"
