"""System checks: installed ranking plugins are loaded and validated when Django starts (``migrate``,
``check``, ``runserver``, ``manage.py plugins``), not at the first shopper's request."""

from typing import Any

from django.core.checks import Warning as CheckWarning

from . import ranking


def plugins_load(app_configs: Any = None, **kwargs: Any) -> list[CheckWarning]:
    """A warning per installed plugin that could not be loaded, with the reason."""
    return [
        CheckWarning(
            f"ranking plugin {name!r} was not loaded: {reason}",
            hint="Fix the plugin or uninstall it; the shop runs without it.",
            id="aisle.W001",
        )
        for name, reason in ranking.registry().failed.items()
    ]
