"""Every error answer under ``/api/`` is the protocol's JSON error (CONTRACTS §5), whoever produced it."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

from .messages import error, server_error

API_PREFIX = "/api/"


class JsonApiErrorsMiddleware(MiddlewareMixin):
    """Replace a non-JSON 4xx/5xx answer to an ``/api/`` request with ``{"type": "error", …}``.

    Django's HTML 404 and 500 pages, the empty 405 of ``require_GET``/``require_POST`` and the 400 of
    a refused host or an oversized body come from outside the views; the API's clients read JSON.
    Pages outside ``/api/`` keep their HTML errors.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            not request.path.startswith(API_PREFIX)
            or response.status_code < 400
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        if response.status_code >= 500:
            body = server_error()
        else:
            phrase = response.reason_phrase
            body = error(phrase.lower().replace(" ", "_"), f"{phrase}: {request.method} {request.path}")
        replacement = JsonResponse(body, status=response.status_code)
        if response.has_header("Allow"):
            replacement["Allow"] = response["Allow"]
        return replacement
