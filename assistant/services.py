"""One chat turn, feedback and history: the code path shared by the WebSocket and HTTP.

A turn: the parser reads the frame (intent and slots) from the shopper's words;
the dialogue manager (``assistant.dialogue``, no Django) updates the
conversation's state and asks ``ShopCatalog`` for products, which runs fused
retrieval under the active constraints (``catalog.search``) and lets the first
enabled ranker plugin order and explain them (``recsys_plugins.ranking``).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import prefetch_related_objects

from catalog.links import safe_url
from catalog.models import Product
from catalog.retrieval.filters import Constraints
from catalog.retrieval.keyword_slots import constraints_from_slots
from catalog.search import SearchHit, encode_query, search
from recsys_plugins import ranking
from recsys_plugins.manager import UnknownRanker
from recsys_plugins.models import FeedbackEvent

from . import parsing
from .dialogue.manager import DialogueManager, ProductView, Turn, describe
from .dialogue.state import DialogueState
from .messages import ProductCard, ProtocolError, Reply
from .models import Conversation, Message

# What ordered the products when no ranker is enabled, stored with their feedback.
RETRIEVAL_ORDER = "fused-retrieval"
EXAMPLE_QUERIES = ["grey sofa", "white bookcase", "black phone case", "floor lamp"]


class UnknownProduct(LookupError):
    """Feedback named a SKU the catalog does not have."""


class ProductNotShown(ProtocolError):
    """Feedback named a product the session's conversation never showed: taking it would let
    anyone who knows a SKU push it up (or down) the ranking."""

    def __init__(self, sku: str) -> None:
        super().__init__(
            "not_shown", f"Feedback is taken only on products this chat has shown; {sku!r} was not."
        )


def product_card(product: Product, explanation: str) -> ProductCard:
    """A product as the chat and the search API show it (CONTRACTS §4)."""
    return {
        "sku": product.sku,
        "title": product.title,
        "price": float(product.price),
        "currency": product.currency,
        "brand": product.brand.name if product.brand else "",
        "categories": [category.full_name for category in product.categories.all()],
        "image_url": safe_url(product.image_url),
        "url": safe_url(product.url),
        "rating": product.rating,
        "explanation": explanation,
    }


def explain(found: SearchHit, constraints: Constraints, ranked_because: str = "") -> str:
    """Why a product is listed: the asked-for properties it has, then the ranker's reason or,
    without one, how the text search found it."""
    product = found.product
    attributes = product.attribute_dict()
    reasons = [
        value
        for key, asked in (("color", constraints.colors), ("material", constraints.materials))
        for value in _as_list(attributes.get(key))
        if value.lower() in asked
    ]
    if constraints.brands and product.brand:
        reasons.append(product.brand.name)
    if constraints.price_max is not None:
        reasons.append(f"under {constraints.price_max:,.0f} {product.currency}")
    if constraints.price_min is not None:
        reasons.append(f"over {constraints.price_min:,.0f} {product.currency}")
    hit = found.hit
    how = [ranked_because] if ranked_because else []
    if hit.lexical and not how:
        how.append("has your words")
    if hit.semantic is not None and not how:
        how.append(f"similarity {hit.semantic:.2f} to your request")
    summary = "; ".join(part for part in (", ".join(reasons), ", ".join(how)) if part)
    return summary[:1].upper() + summary[1:]


def _as_list(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(item) for item in values if item not in (None, "")]


@dataclass
class SearchOutcome:
    """Product cards for a query plus the intent, slots and constraints read from it."""

    cards: list[ProductCard]
    intent: str
    slots: dict[str, Any]
    constraints: Constraints
    ranker: str


def search_cards(
    query: str,
    k: int,
    filters: Mapping[str, Any] | None = None,
    ranker: str | None = None,
    session_key: str = "",
    user: str | None = None,
) -> SearchOutcome:
    """Search as a first chat turn does: parse the query, retrieve under its constraints, then
    order with ``ranker`` (default: the first enabled one) for this session's shopper.

    ``filters`` (``Constraints`` fields) override what the words said. ``user`` (a user id or an
    earlier session key) brings the feedback of earlier sessions into the ranking.
    Raises ``UnknownRanker`` for a ranker that is not installed.
    """
    frame = parsing.parse(query)
    slots = frame.slots
    constraints = constraints_from_slots(slots)
    if filters:
        try:
            constraints = replace(constraints, **filters)
        except ValueError as problem:  # the words and the filters disagree on the price range
            raise ProtocolError("invalid_filter", str(problem)) from None
    found, used = ranked_products(query, constraints, k, ranker, session_key, user)
    cards = [product_card(product, explanation) for product, explanation in found]
    return SearchOutcome(cards, frame.intent, slots, constraints, used)


def ranked_products(
    query: str,
    constraints: Constraints,
    k: int,
    ranker: str | None = None,
    session_key: str = "",
    user: str | None = None,
) -> tuple[list[tuple[Product, str]], str]:
    """The ``k`` best products for ``query`` under ``constraints`` with their explanations, and
    the ranker that ordered them (retrieval order when no ranker is enabled).

    Raises ``UnknownRanker`` for a ranker that is not installed.
    """
    choices = ranking.ranker_choices()  # one settings query per search, shared with the context
    ranker = ranker or ranking.default_ranker(choices)
    installed = ranking.registry().rankers()
    if ranker is not None and ranker not in installed:
        raise UnknownRanker(f"No ranker named {ranker!r}; installed: {', '.join(installed)}.")
    query_vector = encode_query(query)
    if ranker is None:
        hits = search(query, constraints, k, query_vector=query_vector)
        shown = [(hit, "") for hit in hits]
    else:
        hits = search(query, constraints, k * settings.AISLE_RANKING_POOL, query_vector=query_vector)
        context = ranking.context_for(query_vector, constraints.as_dict(), session_key, user, choices)
        by_id = {hit.product.pk: hit for hit in hits}
        ranked = ranking.rank(ranker, list(by_id), [hit.score for hit in hits], context, k)
        shown = [(by_id[item.product_id], item.explanation) for item in ranked]
    # Only the products shown need their categories and attributes (the pool is k times bigger).
    prefetch_related_objects([hit.product for hit, _ in shown], "categories", "attribute_values__attribute")
    found = [(hit.product, explain(hit, constraints, because)) for hit, because in shown]
    return found, ranker or RETRIEVAL_ORDER


class ShopCatalog:
    """The live catalog as the dialogue manager sees it, for one shopper's session: retrieval
    and ranking under the dialogue's constraints, products by SKU, and feedback."""

    def __init__(self, session_key: str) -> None:
        self.session_key = session_key
        self.cards: dict[str, ProductCard] = {}
        self.views: dict[str, ProductView] = {}
        self.ranker = RETRIEVAL_ORDER

    def search(
        self, query: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]:
        skipped = Product.objects.filter(sku__in=skip).values_list("pk", flat=True)
        try:
            hard = constraints_from_slots(constraints, exclude_ids=tuple(skipped))
        except ValueError:  # a price floor above the ceiling matches nothing
            return []
        found, self.ranker = ranked_products(query or describe(constraints), hard, k, None, self.session_key)
        return [self._view(product, explanation) for product, explanation in found]

    def similar(
        self, sku: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]:
        product = next(iter(self.products([sku])), None)
        if product is None:
            return []
        return self.search(f"{product.title}. {product.description}", constraints, k, [*skip, sku])

    def products(self, skus: Sequence[str]) -> list[ProductView]:
        missing = [sku for sku in skus if sku not in self.views]  # a turn may ask twice ("similar")
        if missing:
            found = (
                Product.objects.active()
                .select_related("brand")
                .prefetch_related("categories", "attribute_values__attribute")
                .in_bulk(missing, field_name="sku")
            )
            for product in found.values():
                self._view(product, "")
        return [self.views[sku] for sku in skus if sku in self.views]

    def feedback(self, sku: str, action: str) -> None:
        record_feedback(self.session_key, sku, action)

    def _view(self, product: Product, explanation: str) -> ProductView:
        card = product_card(product, explanation)
        self.cards[product.sku] = card
        self.views[product.sku] = ProductView(
            sku=product.sku,
            title=product.title,
            price=float(product.price),
            currency=product.currency,
            brand=card["brand"],
            rating=product.rating,
            stock=product.stock,
            description=product.description,
            attributes=product.attribute_dict(),
            explanation=explanation,
            categories=card["categories"],
        )
        return self.views[product.sku]


def chat_turn(session_key: str, text: str) -> Reply:
    """Answer one shopper message with the dialogue manager and store both sides of the exchange."""
    frame = parsing.parse(text)
    conversation = _conversation(session_key)
    shop = ShopCatalog(session_key)
    if Product.objects.active().exists():
        state = DialogueState.from_dict(conversation.state)
        turn = DialogueManager(shop, settings.AISLE_RESULTS_PER_PAGE).respond(text, frame, state)
    else:
        turn = Turn("The catalog is empty: an admin needs to import products first.", DialogueState())
    products = [shop.cards[product.sku] for product in turn.products]
    reply: Reply = {
        "type": "reply",
        "text": turn.text,
        "intent": frame.intent,
        "slots": frame.slots,
        "state": {"query": turn.state.query, **turn.state.constraints, "cart": turn.state.cart},
        "products": products,
        "compare": turn.compare,
        "suggestions": turn.suggestions,
    }
    with transaction.atomic():
        conversation.state = {**turn.state.as_dict(), "ranker": shop.ranker}
        conversation.save(update_fields=["state", "updated_at"])
        Message.objects.create(conversation=conversation, role=Message.Role.USER, text=text)
        Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            text=turn.text,
            intent=frame.intent,
            slots=frame.slots,
            products=products,
            compare=turn.compare,
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


def shopper_feedback(session_key: str, sku: str, action: str) -> FeedbackEvent:
    """Feedback from a product card's buttons: stored like any other, and "add to cart" also puts
    the product in the conversation's cart. Raises ``UnknownProduct`` or ``ProductNotShown``."""
    event = record_feedback(session_key, sku, action)
    if action == FeedbackEvent.Action.ADD_TO_CART:
        with transaction.atomic():
            conversation = _conversation(session_key)
            state = DialogueState.from_dict(conversation.state)
            conversation.state = {**conversation.state, "cart": [*state.cart, sku]}
            conversation.save(update_fields=["state", "updated_at"])
    return event


def cart_size(session_key: str | None) -> int:
    """How many products the session's conversation has in its cart (0 for a new session)."""
    state = Conversation.objects.filter(session_key=session_key).values_list("state", flat=True).first()
    return len(DialogueState.from_dict(state).cart)


def record_feedback(session_key: str, sku: str, action: str) -> FeedbackEvent:
    """Store a shopper's reaction to a product the conversation has shown; raises
    ``UnknownProduct`` or ``ProductNotShown``."""
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        raise UnknownProduct(f"No product with SKU {sku!r}.")
    conversation = Conversation.objects.filter(session_key=session_key).first()
    shown = conversation.state.get("shown", []) if conversation else []
    if conversation is None or (sku not in shown and not _ever_shown(conversation, sku)):
        raise ProductNotShown(sku)
    event = FeedbackEvent.objects.create(
        session_key=session_key,
        product=product,
        action=action,
        ranker=conversation.state.get("ranker", RETRIEVAL_ORDER) if conversation and sku in shown else "",
        context={
            "query": conversation.state.get("query", "") if conversation else "",
            "position": shown.index(sku) + 1 if sku in shown else None,
        },
    )
    ranking.feedback_stored(event)
    return event


def _ever_shown(conversation: Conversation, sku: str) -> bool:
    """Whether any reply of the conversation listed ``sku`` (the state keeps only the latest list)."""
    replies = conversation.messages.filter(role=Message.Role.ASSISTANT).values_list("products", flat=True)
    return any(card.get("sku") == sku for cards in replies.iterator() for card in cards or ())


def history(session_key: str) -> list[dict[str, Any]]:
    """The stored messages of a session's conversation, oldest first."""
    return [
        {
            "role": message.role,
            "text": message.text,
            "products": message.products,
            "compare": message.compare,
            "created_at": message.created_at.isoformat(),
        }
        for message in Message.objects.filter(conversation__session_key=session_key)
    ]


def _conversation(session_key: str) -> Conversation:
    conversation, _ = Conversation.objects.get_or_create(session_key=session_key)
    return conversation
