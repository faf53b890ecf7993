"""One chat turn, feedback and history: the code path shared by the WebSocket and HTTP.

The first chat path: the shopper's text is matched against product embeddings
by the cosine ranker. The parser and dialogue manager replace the insides of
``chat_turn`` later; its inputs and reply shape (CONTRACTS §4) stay.
"""

from typing import Any

from django.conf import settings
from django.db import transaction

from catalog.models import Product
from catalog.search import SearchHit, search_products

from .messages import ProductCard, Reply
from .models import Conversation, FeedbackEvent, Message

RANKER = "cosine"
EXAMPLE_QUERIES = ["grey sofa", "white bookcase", "black phone case", "floor lamp"]


class UnknownProduct(LookupError):
    """Feedback named a SKU the catalog does not have."""


def product_card(product: Product, explanation: str) -> ProductCard:
    """A product as the chat and the search API show it (CONTRACTS §4)."""
    return {
        "sku": product.sku,
        "title": product.title,
        "price": float(product.price),
        "currency": product.currency,
        "brand": product.brand.name if product.brand else "",
        "categories": [category.full_name for category in product.categories.all()],
        "image_url": product.image_url,
        "url": product.url,
        "rating": product.rating,
        "explanation": explanation,
    }


def explain(hit: SearchHit, query: str) -> str:
    """Why a product is listed: the asked-for words it carries and its similarity."""
    words = set(query.lower().split())
    attributes = hit.product.attribute_dict()
    matched = [
        value
        for key in ("type", "color", "material", "style", "room")
        for value in (attributes.get(key) if isinstance(attributes.get(key), list) else [attributes.get(key)])
        if isinstance(value, str) and value and set(value.split()) <= words
    ]
    similarity = f"similarity {hit.score:.2f} to your request"
    return f"{', '.join(matched)}; {similarity}" if matched else similarity.capitalize()


def search_cards(query: str, k: int) -> list[ProductCard]:
    return [product_card(hit.product, explain(hit, query)) for hit in search_products(query, k)]


def chat_turn(session_key: str, text: str) -> Reply:
    """Answer one shopper message and store both sides of the exchange."""
    products = search_cards(text, settings.AISLE_RESULTS_PER_PAGE)
    if products:
        reply_text = f"Here are {len(products)} products for “{text}”."
        suggestions: list[str] = []
    elif not Product.objects.active().exists():
        reply_text = "The catalog is empty: an admin needs to import products first."
        suggestions = []
    else:
        reply_text = "I could not find anything for that yet. Try one of these:"
        suggestions = EXAMPLE_QUERIES
    state = {"query": text}
    reply: Reply = {
        "type": "reply",
        "text": reply_text,
        "intent": "search",
        "slots": {},
        "state": state,
        "products": products,
        "compare": None,
        "suggestions": suggestions,
    }
    with transaction.atomic():
        conversation = _conversation(session_key)
        conversation.state = {**state, "shown": [card["sku"] for card in products]}
        conversation.save(update_fields=["state", "updated_at"])
        Message.objects.create(conversation=conversation, role=Message.Role.USER, text=text)
        Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            text=reply_text,
            intent="search",
            products=products,
        )
    return reply


def reset(session_key: str) -> Reply:
    """Forget the conversation's state (its messages stay stored for the admin)."""
    Conversation.objects.filter(session_key=session_key).update(state={})
    return {
        "type": "reply",
        "text": "Starting afresh. What are you looking for?",
        "intent": "reset",
        "slots": {},
        "state": {},
        "products": [],
        "compare": None,
        "suggestions": EXAMPLE_QUERIES,
    }


def record_feedback(session_key: str, sku: str, action: str) -> FeedbackEvent:
    """Store a shopper's reaction to a product; raises ``UnknownProduct``."""
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        raise UnknownProduct(f"No product with SKU {sku!r}.")
    conversation = Conversation.objects.filter(session_key=session_key).first()
    shown = conversation.state.get("shown", []) if conversation else []
    return FeedbackEvent.objects.create(
        session_key=session_key,
        product=product,
        action=action,
        ranker=RANKER if sku in shown else "",
        context={
            "query": conversation.state.get("query", "") if conversation else "",
            "position": shown.index(sku) + 1 if sku in shown else None,
        },
    )


def history(session_key: str) -> list[dict[str, Any]]:
    """The stored messages of a session's conversation, oldest first."""
    return [
        {
            "role": message.role,
            "text": message.text,
            "products": message.products,
            "created_at": message.created_at.isoformat(),
        }
        for message in Message.objects.filter(conversation__session_key=session_key)
    ]


def _conversation(session_key: str) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(session_key=session_key)
    return conversation
