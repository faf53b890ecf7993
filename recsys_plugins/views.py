"""``GET /api/rankers/`` (CONTRACTS §5)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from . import ranking


@require_GET
def api_rankers(request: HttpRequest) -> JsonResponse:
    """Installed rankers in their order (a hidden one once enabled): name, version, package, hooks
    implemented, enabled,
    plus the plugin that provides each, its position and weight, and whether it trains; and the
    installed plugins that failed to load, with the reason; every loaded plugin (re-rank wrappers
    included) with its hooks; and the hook calls each plugin failed in this process (each skipped)."""
    registry = ranking.registry()
    return JsonResponse(
        {
            "rankers": [
                {
                    "name": choice.ranker.name,
                    "version": choice.ranker.version,
                    "package": choice.ranker.package,
                    "plugin": choice.ranker.plugin,
                    "hooks": list(choice.ranker.hooks),
                    "enabled": choice.enabled,
                    "position": choice.position,
                    "weight": choice.weight,
                    "trainable": choice.ranker.trainable,
                    "description": choice.ranker.description,
                    "runtime_errors": registry.runtime_errors[choice.ranker.plugin],
                }
                for choice in ranking.ranker_choices()
                if choice.enabled or not choice.ranker.hidden
            ],
            "default": ranking.default_ranker(),
            "plugins": registry.loaded_plugins(),
            "failed": registry.failed,
            "runtime_errors": dict(registry.runtime_errors),
        }
    )
