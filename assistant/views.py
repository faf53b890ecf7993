"""The chat page and the JSON API (CONTRACTS §5)."""

import secrets
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from catalog.models import Category
from recsys_plugins import ranking
from recsys_plugins.manager import UnknownRanker

from . import ratelimit, services
from .messages import (
    ProtocolError,
    check_parameters,
    decode_client_json,
    error,
    validate_feedback,
    validate_text,
)

MAX_K = 50
MAX_SKU = 100
TOO_FAST = ProtocolError("rate_limited", "Too many requests; please slow down.")
TOO_MANY_REQUESTS = 429


def chat_page(request: HttpRequest) -> HttpResponse:
    """The shopper's chat; the session cookie set here keys the WebSocket conversation.

    Reading the session (``setdefault``) also replaces a cookie that names no stored session:
    the WebSocket cannot set cookies, so the page must hand out a session it will find again.
    The cart count is rendered here so that a reload shows the conversation's cart at once.
    """
    request.session.setdefault("chat", True)
    standing = services.shopper_state(request.session.session_key)
    return render(
        request,
        "assistant/chat.html",
        {
            "cart": standing["cart"],
            "standing": standing,
            "examples": services.DialogueManager(services.ShopCatalog("")).examples(),
        },
    )


@csrf_exempt
@require_POST
def api_chat(request: HttpRequest) -> JsonResponse:
    try:
        body = _json_body(request)
        text = validate_text(body.get("text"))
        session = _session_id(body.get("session"))
    except ProtocolError as problem:
        return _error(problem)
    if not ratelimit.allowed(api_key(session), client_address(request)):
        return _error(TOO_FAST, status=TOO_MANY_REQUESTS)
    return JsonResponse({**services.chat_turn(api_key(session), text), "session": session})


@require_GET
def api_product(request: HttpRequest, sku: str) -> JsonResponse:
    """One active product with all its fields, for the page's product detail view."""
    product = services.product_details(sku) if len(sku) <= MAX_SKU and sku.isprintable() else None
    if product is None:
        return _error(ProtocolError("unknown_sku", f"No product with SKU {sku!r}."), status=404)
    return JsonResponse(product)


@require_GET
def api_search(request: HttpRequest) -> JsonResponse:
    """``?q=…&k=10&ranker=…`` plus optional filters that override what the words say:
    ``price_min``, ``price_max``, ``in_stock``, and repeatable ``brand``, ``color``,
    ``material`` and ``category`` (a category path or name; its sub-categories count)."""
    if not ratelimit.allowed(request.session.session_key, client_address(request)):
        return _error(TOO_FAST, status=TOO_MANY_REQUESTS)
    try:
        check_parameters(request.GET.lists())
        query = validate_text(request.GET.get("q", ""))
        k = _whole_number(request.GET.get("k", settings.AISLE_RESULTS_PER_PAGE), "k", 1, MAX_K)
        filters = _search_filters(request.GET)
        ranker = request.GET.get("ranker") or None
        if ranker is not None and not ranking.is_enabled(ranker):  # installed, maybe, but not offered
            raise UnknownRanker(f"No enabled ranker named {ranker!r}; see /api/rankers/.")
        outcome = services.search_cards(query, k, filters, ranker=ranker)
    except ProtocolError as problem:
        return _error(problem)
    except UnknownRanker as problem:
        return _error(ProtocolError("unknown_ranker", str(problem)))
    return JsonResponse({"results": outcome.cards, "intent": outcome.intent, "slots": outcome.slots})


def _search_filters(params: QueryDict) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for name in ("price_min", "price_max"):
        if params.get(name):
            filters[name] = _number(params[name], name)
    if params.get("in_stock"):
        filters["in_stock"] = params["in_stock"].lower() in ("1", "true", "yes")
    for param, field in (("brand", "brands"), ("color", "colors"), ("material", "materials")):
        if values := [value for value in params.getlist(param) if value.strip()]:
            filters[field] = tuple(values)
    if names := [value for value in params.getlist("category") if value.strip()]:
        filters["categories"] = tuple(_category_path(name) for name in names)
    if filters.get("price_min", 0) > filters.get("price_max", float("inf")):
        raise ProtocolError("invalid_filter", "'price_min' is above 'price_max'.")
    return filters


def _category_path(name: str) -> str:
    category = Category.objects.filter(
        Q(path=name.strip("/")) | Q(name__iexact=name) | Q(full_name__iexact=name)
    )
    path = category.values_list("path", flat=True).first()
    if path is None:
        raise ProtocolError("unknown_category", f"No category {name!r}.")
    return path


def _number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ProtocolError("invalid_filter", f"{name!r} must be a number.") from None
    if not 0 <= number < 1e12:
        raise ProtocolError("invalid_filter", f"{name!r} must be a number from 0.")
    return number


def _whole_number(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if not low <= number <= high:
        raise ProtocolError(f"invalid_{name}", f"{name!r} must be a whole number from {low} to {high}.")
    return number


@csrf_exempt
@require_POST
def api_feedback(request: HttpRequest) -> JsonResponse:
    try:
        body = _json_body(request)
        session = _session_id(body.get("session"), required=True)
        sku, action = validate_feedback(body.get("sku"), body.get("action"))
        if not ratelimit.allowed(api_key(session), client_address(request)):
            return _error(TOO_FAST, status=TOO_MANY_REQUESTS)
        standing = services.shopper_feedback(api_key(session), sku, action)
    except ProtocolError as problem:
        return _error(problem)
    except services.UnknownProduct as problem:
        return _error(ProtocolError("unknown_sku", str(problem)), status=404)
    return JsonResponse({"type": "ack", "sku": sku, "action": action, **standing}, status=201)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    body = decode_client_json(request.body)
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


def client_address(request: HttpRequest) -> str | None:
    """The client's address as the server saw it (behind a proxy, Daphne's ``--proxy-headers``
    puts the forwarded one here)."""
    return request.META.get("REMOTE_ADDR") or None


def api_key(session: str) -> str:
    """The conversation key of an API client's session id."""
    return f"api:{session}"


def _error(problem: ProtocolError, status: int = 400) -> JsonResponse:
    return JsonResponse(error(problem.code, problem.message), status=status)
