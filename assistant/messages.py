"""Message shapes of the chat protocol (CONTRACTS §4) and their validation."""

from typing import Any, Literal, NotRequired, TypedDict

from django.conf import settings

MESSAGE = "message"
FEEDBACK = "feedback"
RESET = "reset"
FEEDBACK_ACTIONS = ("click", "like", "dislike", "add_to_cart")


class ProtocolError(Exception):
    """Bad client input: ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
