"""``GET /api/rankers/`` (CONTRACTS §5)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from . import ranking


@require_GET
def api_rankers(request: HttpRequest) -> JsonResponse:
    """Installed rankers in their order: name, version, package, hooks implemented, enabled,
    plus the plugin that provides each, its position and weight, and whether it trains; and the
    installed plugins that failed to load, with the reason."""
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
                }
                for choice in ranking.ranker_choices()
            ],
            "default": ranking.default_ranker(),
            "failed": ranking.registry().failed,
        }
    )
