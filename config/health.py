"""``GET /healthz``: the state of every service Aisle depends on (CONTRACTS §5)."""

import asyncio
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import HttpRequest, JsonResponse

from assistant.parsing import active_parser, parser_store
from catalog.indexing import index_store, live_index
from catalog.models import ProductEmbedding
from catalog.retrieval.encoder import MODEL_NAME
from core.celery_app import app as celery_app
from recsys_plugins.ranking import artifacts_store
from recsys_plugins.ranking import registry as ranking_registry

TIMEOUT_S = 2.0


def healthz(request: HttpRequest) -> JsonResponse:
    """200 with each check's state when all pass, 503 naming the failing ones otherwise; failing
    ranking plugins make the status "degraded" but keep the 200."""
    checks = {
        "database": _check(_database),
        "channel_layer": _check(_channel_layer),
        "broker": _check(_broker),
        "models": _check(_models),
    }
    healthy = all(check["ok"] for check in checks.values())
    # A failing plugin is skipped request by request: the shop still answers, so it degrades the
    # status without failing the check (a load balancer keeps the process).
    plugins = _plugins()
    body = {"status": "ok" if healthy and plugins["ok"] else "degraded", **checks, "plugins": plugins}
    return JsonResponse(body, status=200 if healthy else 503)


def _check(probe: Any) -> dict[str, Any]:
    try:
        return {"ok": True, **probe()}
    except Exception as problem:
        return {"ok": False, "error": f"{type(problem).__name__}: {problem}"}


def _plugins() -> dict[str, Any]:
    """The ranking plugins that failed to load or failed hook calls in this process."""
    registry = ranking_registry()
    errors = {name: count for name, count in registry.runtime_errors.items() if count}
    return {"ok": not errors and not registry.failed, "runtime_errors": errors, "failed": registry.failed}


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"vendor": connection.vendor}


def _channel_layer() -> dict[str, Any]:
    """A message sent through the layer and read back within ``TIMEOUT_S``. Its channel is a plain
    one, read on its own connection: a process-local channel would share the receive loop of any
    consumer bound to the layer and wait behind it."""
    layer = get_channel_layer()

    async def round_trip() -> None:
        channel = f"healthz.{uuid.uuid4().hex}"
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "healthz", "token": token})
        if (await layer.receive(channel)).get("token") != token:
            raise RuntimeError("channel layer returned another message")

    async def bounded() -> None:
        await asyncio.wait_for(round_trip(), TIMEOUT_S)

    async_to_sync(bounded)()
    return {"backend": type(layer).__name__}


def _broker() -> dict[str, Any]:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=TIMEOUT_S)
        transport = conn.transport_cls
    return {"transport": str(transport)}


HEADLINE_METRICS = ("intent_accuracy", "slot_f1", "exact_frame")


def _models() -> dict[str, Any]:
    """The versions this process serves; fails when an active index or parser version cannot be
    loaded (another one is served instead) or its files were damaged since."""
    embedded = ProductEmbedding.objects.values_list("model_name", flat=True).distinct()
    served_index = live_index().get()
    index_store().check_serving(served_index.name if served_index else None)
    manifest = served_index.manifest if served_index else None
    index = {key: manifest[key] for key in ("version", "products", "kind")} if manifest else None
    served_parser = active_parser()
    parser_store().check_serving(served_parser.version if served_parser else None)
    parser_manifest = parser_store().manifest(served_parser.version) if served_parser else None
    parser = (
        {
            "version": parser_manifest["version"],
            **{key: parser_manifest["metrics"][key] for key in HEADLINE_METRICS},
        }
        if parser_manifest
        else None
    )
    rankers_manifest = artifacts_store().manifest()
    rankers = (
        {"version": rankers_manifest["version"], "events": rankers_manifest["events"]}
        if rankers_manifest
        else None
    )
    return {
        "encoder": MODEL_NAME,
        "embeddings": sorted(embedded),
        "index": index,
        "parser": parser,
        "rankers": rankers,
    }
