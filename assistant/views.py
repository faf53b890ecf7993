"""The chat page and the JSON API (CONTRACTS §5)."""

import json
import secrets
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from . import services
from .messages import ProtocolError, error, validate_feedback, validate_text

MAX_BODY_BYTES = 16_384
MAX_K = 50


def chat_page(request: HttpRequest) -> HttpResponse:
    """The shopper's chat; the session cookie set here keys the WebSocket conversation."""
    if not request.session.session_key:
        request.session["chat"] = True
    return render(request, "assistant/chat.html")


@csrf_exempt
@require_POST
def api_chat(request: HttpRequest) -> JsonResponse:
    try:
        body = _json_body(request)
        text = validate_text(body.get("text"))
        session = _session_id(body.get("session"))
    except ProtocolError as problem:
        return _error(problem)
    return JsonResponse({**services.chat_turn(api_key(session), text), "session": session})


@require_GET
def api_search(request: HttpRequest) -> JsonResponse:
    query = request.GET.get("q", "")
    try:
        query = validate_text(query)
        k = int(request.GET.get("k", settings.AISLE_RESULTS_PER_PAGE))
        if not 1 <= k <= MAX_K:
            raise ValueError
    except ProtocolError as problem:
        return _error(problem)
    except ValueError:
        return _error(ProtocolError("invalid_k", f"'k' must be a whole number from 1 to {MAX_K}."))
    ranker = request.GET.get("ranker", services.RANKER)
    if ranker != services.RANKER:
        return _error(ProtocolError("unknown_ranker", f"No ranker named {ranker!r}."))
    return JsonResponse({"results": services.search_cards(query, k), "intent": "search", "slots": {}})


@csrf_exempt
@require_POST
def api_feedback(request: HttpRequest) -> JsonResponse:
    try:
        body = _json_body(request)
        session = _session_id(body.get("session"), required=True)
        sku, action = validate_feedback(body.get("sku"), body.get("action"))
        services.record_feedback(api_key(session), sku, action)
    except ProtocolError as problem:
        return _error(problem)
    except services.UnknownProduct as problem:
        return _error(ProtocolError("unknown_sku", str(problem)), status=404)
    return JsonResponse({"type": "ack", "sku": sku, "action": action}, status=201)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise ProtocolError("message_too_long", f"Request bodies are limited to {MAX_BODY_BYTES} bytes.")
    try:
        body = json.loads(request.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProtocolError("invalid_json", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ProtocolError("invalid_json", "The request body must be a JSON object.")
    return body


def _session_id(value: Any, required: bool = False) -> str:
    """A client-chosen session id (8–40 letters, digits, '-' or '_'), or a new one.

    API conversations live apart from browser sessions (see ``api_key``), so a
    guessed id never reaches a shopper's chat.
    """
    if value is None and not required:
        return secrets.token_hex(16)
    if (
        not isinstance(value, str)
        or not 8 <= len(value) <= 40
        or not value.replace("-", "").replace("_", "").isalnum()
    ):
        raise ProtocolError("invalid_session", "'session' must be 8–40 letters, digits, '-' or '_'.")
    return value


def api_key(session: str) -> str:
    """The conversation key of an API client's session id."""
    return f"api:{session}"


def _error(problem: ProtocolError, status: int = 400) -> JsonResponse:
    return JsonResponse(error(problem.code, problem.message), status=status)
