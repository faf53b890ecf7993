"""``manage.py plugins``: every ranking plugin this installation loads, its hooks and rankers, and
the ones that failed to load; exits 1 when one failed."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recsys_plugins import ranking


class Command(BaseCommand):
    help = "List the ranking plugins, their hooks and rankers, and those that failed to load."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the listing as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        registry = ranking.registry()
        switched_off = ranking.plugins_switched_off()
        choices = {choice.ranker.name: choice for choice in ranking.ranker_choices(switched_off)}
        plugins = [
            plugin | {"on": plugin["name"] not in switched_off} for plugin in registry.loaded_plugins()
        ]
        if options["json"]:
            listing = {
                "plugins": plugins,
                "rankers": {name: choice.enabled for name, choice in choices.items()},
                "failed": registry.failed,
            }
            self.stdout.write(json.dumps(listing, indent=2))
        else:
            for plugin in plugins:
                rankers = ", ".join(
                    f"{name} ({'enabled' if choices[name].enabled else 'off'})" for name in plugin["rankers"]
                )
                self.stdout.write(
                    f"{plugin['name']} [{plugin['package']} {plugin['version']}]"
                    f"{'' if plugin['on'] else ' switched off'}\n"
                    f"  hooks: {', '.join(plugin['hooks'])}\n"
                    f"  rankers: {rankers or 'none'}{'; wraps every ranker' if plugin['wrapper'] else ''}"
                )
            for name, reason in registry.failed.items():
                self.stderr.write(f"{name}: NOT LOADED: {reason}")
        if registry.failed:
            raise CommandError(
                f"{len(registry.failed)} plugin(s) failed to load: {', '.join(registry.failed)}"
            )
