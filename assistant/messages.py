"""Message shapes of the chat protocol (CONTRACTS §4) and their validation."""

from collections.abc import Iterable
from typing import Any, Literal, NotRequired, TypedDict

from django.conf import settings

from core import untrusted

MESSAGE = "message"
FEEDBACK = "feedback"
RESET = "reset"
FEEDBACK_ACTIONS = ("click", "like", "dislike", "add_to_cart")
# A frame or request body carries one message of at most AISLE_MAX_MESSAGE_CHARS characters;
# anything far larger is refused before it is parsed.
MAX_FRAME_BYTES = 16_384


# Bad client input, refused with its code: the one exception of every input boundary, so the
# decoder's refusals and the protocol's own need no translating.
ProtocolError = untrusted.UntrustedInputError


class ChatMessage(TypedDict):
    type: Literal["message"]
    text: str


class FeedbackMessage(TypedDict):
    type: Literal["feedback"]
    sku: str
    action: Literal["click", "like", "dislike", "add_to_cart"]


class ResetMessage(TypedDict):
    type: Literal["reset"]


class ProductCard(TypedDict):
    sku: str
    title: str
    price: float
    currency: str
    brand: str
    categories: list[str]
    image_url: str
    url: str
    rating: float | None
    explanation: str


class CompareTable(TypedDict):
    skus: list[str]
    rows: list[dict[str, Any]]


class Reply(TypedDict):
    type: Literal["reply"]
    text: str
    intent: str
    slots: dict[str, Any]
    state: dict[str, Any]
    products: list[ProductCard]
    compare: CompareTable | None
    suggestions: list[str]
    session: NotRequired[str]


class Ack(TypedDict):
    type: Literal["ack"]
    sku: str
    action: str


class History(TypedDict):
    type: Literal["history"]
    messages: list[dict[str, Any]]


class Error(TypedDict):
    type: Literal["error"]
    code: str
    message: str


def error(code: str, message: str) -> Error:
    return {"type": "error", "code": code, "message": message}


def server_error() -> Error:
    """The answer to a failure on the server's side; the log has the cause."""
    return error("server_error", "Something went wrong on our side. Please try again.")


def decode_client_json(raw: str | bytes) -> Any:
    """A client's JSON (a WebSocket frame or a request body) within the protocol's bounds: size,
    nesting depth, number size, and only text the database can store. Raises ``ProtocolError``."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode(errors="surrogatepass"))
    if size > MAX_FRAME_BYTES:
        raise ProtocolError("message_too_long", f"Frames and bodies are limited to {MAX_FRAME_BYTES} bytes.")
    return untrusted.loads(raw)


def check_parameters(parameters: Iterable[tuple[str, list[str]]]) -> None:
    """Query-string parameters (``QueryDict.lists()``): names and values must be storable text."""
    for name, values in parameters:
        untrusted.check_text(name, "A parameter name")
        for value in values:
            untrusted.check_text(value, f"{name!r}")


def validate_text(text: Any) -> str:
    """A shopper's message: a non-empty string within the length limit."""
    if not isinstance(text, str):
        raise ProtocolError("invalid_message", "'text' must be a string.")
    text = text.strip()
    if not text:
        raise ProtocolError("empty_message", "The message is empty.")
    if len(text) > settings.AISLE_MAX_MESSAGE_CHARS:
        raise ProtocolError(
            "message_too_long",
            f"Messages are limited to {settings.AISLE_MAX_MESSAGE_CHARS} characters.",
        )
    return text


def validate_feedback(sku: Any, action: Any) -> tuple[str, str]:
    if not isinstance(sku, str) or not sku.strip() or len(sku) > 64:
        raise ProtocolError("invalid_feedback", "'sku' must be a product SKU.")
    if action not in FEEDBACK_ACTIONS:
        raise ProtocolError("invalid_feedback", f"'action' must be one of: {', '.join(FEEDBACK_ACTIONS)}.")
    return sku.strip(), action


def parse_client_message(data: Any) -> ChatMessage | FeedbackMessage | ResetMessage:
    """Check a decoded client frame against the protocol; raises ``ProtocolError``."""
    if not isinstance(data, dict):
        raise ProtocolError("invalid_message", "Each frame must be a JSON object.")
    kind = data.get("type")
    if kind == MESSAGE:
        return {"type": MESSAGE, "text": validate_text(data.get("text"))}
    if kind == FEEDBACK:
        sku, action = validate_feedback(data.get("sku"), data.get("action"))
        return {"type": FEEDBACK, "sku": sku, "action": action}
    if kind == RESET:
        return {"type": RESET}
    raise ProtocolError(
        "unknown_type", f"Unknown message type {kind!r}; expected message, feedback or reset."
    )
