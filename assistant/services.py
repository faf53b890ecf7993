"""One chat turn, a one-shot search, feedback and history: the path shared by the WebSocket,
HTTP and ``search_batch``.

A turn: the parser reads the frame (intent and slots) from the shopper's words;
the dialogue manager (``assistant.dialogue``, no Django) updates the
conversation's state and asks ``ShopCatalog`` for products, which runs the
product search (``assistant.search``: constraints, retrieval, ranking and
explanations) under the active constraints. A one-shot search is a first turn.
"""

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max

from catalog.indexing import live_index
from catalog.links import safe_url
from catalog.models import Product
from recsys_plugins import ranking
from recsys_plugins.models import FeedbackEvent, RankerExperiment

from . import parsing
from .dialogue import cart as carts
from .dialogue.manager import (
    CLARIFIED,
    DialogueManager,
    Overview,
    ProductView,
    Results,
    Turn,
    describe,
    round_price,
)
from .dialogue.state import DialogueState
from .messages import ProductCard, ProtocolError, Reply
from .models import Conversation, Message
from .nlu.frame import Frame
from .search import RETRIEVAL_ORDER, find_products, kind_of, kinds_on_offer

logger = logging.getLogger(__name__)

OVERVIEW_TYPES = 12
"""Kinds of product an overview names (the shop's most stocked)."""
OVERVIEW_BRANDS = 30


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


@dataclass
class SearchOutcome:
    """Product cards for a query, the intent and slots read from it, and the reply's words."""

    cards: list[ProductCard]
    intent: str
    slots: dict[str, Any]
    text: str
    ranker: str


def search_cards(
    query: str,
    k: int,
    filters: Mapping[str, Any] | None = None,
    ranker: str | None = None,
    session_key: str = "",
    user: str | None = None,
) -> SearchOutcome:
    """Search as a chat's first turn does (nothing is stored): parse the query, let the dialogue
    manager search, relax or explain, with ``ranker`` (default: the first enabled one) ordering
    the products for this session's shopper.

    ``filters`` (``Constraints`` fields) override what the words said. ``user`` (a user id or an
    earlier session key) brings the feedback of earlier sessions into the ranking.
    Raises ``UnknownRanker`` for a ranker that is not installed.
    """
    ranking.require_installed(ranker)
    frame = parsing.parse(query)
    shop = ShopCatalog(session_key, ranker=ranker, user=user, filters=filters)
    turn = DialogueManager(shop, k).respond(query, frame, DialogueState(), conversation=False)
    cards = [shop.cards[product.sku] for product in turn.products]
    return SearchOutcome(cards, frame.intent, frame.slots, turn.text, shop.ranker)


def warm_up() -> None:
    """Load what a turn needs (the parser, the query encoder, the live index, the keyword rules)
    with a search that stores nothing, so that a web process's first shopper does not wait
    seconds for it. Never raises: a process must start before the database or index is ready."""
    try:
        search_cards("sofa", 1)
    except Exception as problem:
        logger.warning(
            "warm-up skipped (%s: %s); the first turn loads the models", type(problem).__name__, problem
        )


class ShopCatalog:
    """The live catalog as the dialogue manager sees it, for one shopper's session: the product
    search under the dialogue's constraints, products by SKU, and feedback.

    ``ranker``, ``user`` and ``filters`` (``Constraints`` fields that override the words) are
    those of an API search; a chat leaves them unset.
    """

    def __init__(
        self,
        session_key: str,
        ranker: str | None = None,
        user: str | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> None:
        self.session_key = session_key
        self.requested_ranker = ranker
        self.shopper = ranking.Shopper(session_key, user)
        self.filters = filters
        self.cards: dict[str, ProductCard] = {}
        self.views: dict[str, ProductView] = {}
        self.ranker = RETRIEVAL_ORDER
        self.searched = False
        self.experiment: dict[str, Any] = {}
        """``{"id", "arms": {sku: arm}}`` when an experiment ordered the products found."""
        self.given: list[tuple[str, str]] = []

    def search(self, query: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]) -> Results:
        try:
            found = find_products(
                query or describe(constraints),
                constraints,
                k,
                skip=skip,
                ranker=self.requested_ranker,
                shopper=self.shopper,
                filters=self.filters,
            )
        except ValueError as problem:  # a price floor above the ceiling
            if self.filters:  # the words and the API's filters disagree
                raise ProtocolError("invalid_filter", str(problem)) from None
            return Results()
        self.ranker, self.searched = found.ranker, True
        if found.experiment is not None:
            arms = {product.sku: arm for (product, _), arm in zip(found.products, found.arms, strict=True)}
            self.experiment = {"id": found.experiment, "arms": {**self.experiment.get("arms", {}), **arms}}
        asked = found.asked_type
        not_sold = asked is not None and not asked.supported
        return Results(
            [self._view(product, explanation) for product, explanation in found.products],
            not_sold=asked.label if not_sold else "",
            closest=list(asked.closest) if not_sold else [],
            notes=found.unapplied,
            alternative=found.alternative,
            recognised=found.recognised,
            typed=asked is not None and asked.supported,
            # The plainest of the types matched: "bunk bed frame", not "… / … with underbed".
            asked=min(asked.label.split(" / "), key=len) if asked is not None and asked.supported else "",
            exact=found.exact,
            kind=found.kind,
        )

    def similar(
        self, sku: str, constraints: Mapping[str, Any], k: int, skip: Sequence[str]
    ) -> list[ProductView]:
        product = next(iter(self.products([sku])), None)
        if product is None:
            return []
        # Of the same kind as the product unless the shopper asked for one; the description's own
        # words would name other things ("a chair for the garden table").
        kind = {"category": product.attributes.get("type")} if product.attributes.get("type") else {}
        alike = {**kind, **constraints}
        return self.search(f"{product.title}. {product.description}", alike, k, [*skip, sku]).products

    def products(self, skus: Sequence[str]) -> list[ProductView]:
        missing = [sku for sku in skus if sku not in self.views]  # a turn may ask twice ("similar")
        if missing:
            found = Product.objects.active().with_details().in_bulk(missing, field_name="sku")
            for product in found.values():
                self._view(product, "")
        return [self.views[sku] for sku in skus if sku in self.views]

    def on_screen(self, previous: Mapping[str, Any]) -> dict[str, Any]:
        """What ordered the list on screen, kept in the conversation's state: the ranker and
        experiment of this turn's search, or of the ``previous`` state's list when the turn did
        not search ("the second one")."""
        if not self.searched:
            return {
                "ranker": previous.get("ranker", RETRIEVAL_ORDER),
                "experiment": previous.get("experiment", {}),
            }
        return {"ranker": self.ranker, "experiment": self.experiment}

    def feedback(self, sku: str, action: str) -> None:
        # Stored with the turn's state (``store_feedback``), once the turn is final.
        self.given.append((sku, action))

    def store_feedback(self) -> None:
        """Store the feedback the turn gave (a like, an add to cart said in words)."""
        for sku, action in self.given:
            record_feedback(self.session_key, sku, action)
        self.given.clear()

    def kind_of(self, text: str) -> str | None:
        return kind_of(text)

    def overview(self) -> Overview:
        return catalog_overview()

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
    """Answer one shopper message with the dialogue manager and store both sides of the exchange.

    The turn's work (parse, search, rank) runs on the state as read, outside any lock, so that
    other sessions' turns proceed meanwhile (on SQLite a write transaction locks the whole file).
    It is stored under the conversation's row lock; if another tab or the API changed the state
    in between, the turn is answered again on the state as it now stands, so nothing is lost.
    """
    frame = parsing.parse(text)
    read = _stored_state(session_key)
    shop, turn = _answer(session_key, text, frame, read)
    with transaction.atomic():
        conversation = _locked_conversation(session_key)
        if conversation.state != read:
            shop, turn = _answer(session_key, text, frame, conversation.state)
        shop.store_feedback()
        products = [shop.cards[product.sku] for product in turn.products]
        reply = _reply(turn, frame, products, shop)
        on_screen = shop.on_screen(conversation.state)
        conversation.state = {**turn.state.as_dict(), **on_screen}
        experiment = on_screen["experiment"]
        conversation.save(update_fields=["state", "updated_at"])
        Message.objects.bulk_create(
            [
                Message(
                    conversation=conversation,
                    role=Message.Role.USER,
                    text=text,
                    intent=frame.intent,
                    slots=frame.slots,
                    confidence=frame.confidence,
                ),
                Message(
                    conversation=conversation,
                    role=Message.Role.ASSISTANT,
                    text=turn.text,
                    intent=frame.intent,
                    slots=frame.slots,
                    outcome=turn.outcome or (CLARIFIED if turn.state.pending else ""),
                    ranker=on_screen["ranker"] if products else "",
                    experiment={
                        "id": experiment["id"],
                        "arms": [experiment["arms"].get(card["sku"], "") for card in products],
                    }
                    if experiment and products
                    else {},
                    products=products,
                    compare=turn.compare,
                ),
            ]
        )
    return reply


def _answer(
    session_key: str, text: str, frame: Frame, stored: Mapping[str, Any]
) -> tuple["ShopCatalog", Turn]:
    """The dialogue's reply to ``text`` in the ``stored`` state, and the shop that searched it
    (its cards, and the feedback the turn gave, not yet stored)."""
    shop = ShopCatalog(session_key)
    state = DialogueState.from_dict(stored)
    if not Product.objects.active().exists():
        return shop, Turn("The catalog is empty: an admin needs to import products first.", state)
    return shop, DialogueManager(shop, settings.AISLE_RESULTS_PER_PAGE).respond(text, frame, state)


def _stored_state(session_key: str) -> dict[str, Any]:
    stored = Conversation.objects.filter(session_key=session_key).values_list("state", flat=True).first()
    return stored if stored is not None else {}


def reset(session_key: str) -> Reply:
    """A new conversation: the dialogue forgets the search and keeps the shopper's cart (its
    messages stay stored for the admin)."""
    frame = Frame("reset", 1.0, {})
    shop = ShopCatalog(session_key)
    with transaction.atomic():
        conversation = _locked_conversation(session_key)
        state = DialogueState.from_dict(conversation.state)
        turn = DialogueManager(shop, settings.AISLE_RESULTS_PER_PAGE).respond("", frame, state)
        conversation.state = turn.state.as_dict()
        conversation.save(update_fields=["state", "updated_at"])
    return _reply(turn, frame, [], shop)


def shopper_feedback(session_key: str, sku: str, action: str) -> Reply:
    """Feedback from a product card's buttons, through the dialogue manager like a message: stored
    like any other, "add to cart" puts the product in the cart once. Returns the cart as it
    stands. Raises ``UnknownProduct`` or ``ProductNotShown``."""
    shop = ShopCatalog(session_key)
    with transaction.atomic():
        conversation = _locked_conversation(session_key)
        state = DialogueManager(shop, settings.AISLE_RESULTS_PER_PAGE).react(
            sku, action, DialogueState.from_dict(conversation.state)
        )
        shop.store_feedback()
        conversation.state = {**conversation.state, **state.as_dict()}
        conversation.save(update_fields=["state", "updated_at"])
    return {"cart": cart_view(state.cart, shop), "liked": state.liked}


def cart_size(session_key: str | None) -> int:
    """How many items the session's cart holds (0 for a new session)."""
    state = Conversation.objects.filter(session_key=session_key).values_list("state", flat=True).first()
    return carts.item_count(DialogueState.from_dict(state).cart)


def shopper_state(session_key: str | None) -> dict[str, Any]:
    """The session's cart (lines with their products) and liked SKUs, for the page."""
    stored = Conversation.objects.filter(session_key=session_key).values_list("state", flat=True).first()
    state = DialogueState.from_dict(stored)
    return {"cart": cart_view(state.cart, ShopCatalog(session_key or "")), "liked": state.liked}


def cart_view(cart: carts.Cart, shop: "ShopCatalog") -> dict[str, Any]:
    """The cart as the page shows it: lines with title and price, the item count, totals per
    currency."""
    views = {view.sku: view for view in shop.products(carts.skus(cart))}
    items = [
        {"sku": line["sku"], "title": view.title, "price": view.price, "currency": view.currency,
         "quantity": line["quantity"]}
        for line in cart
        if (view := views.get(line["sku"])) is not None
    ]  # fmt: skip
    totals: dict[str, float] = {}
    for item in items:
        totals[item["currency"]] = round(
            totals.get(item["currency"], 0.0) + item["price"] * item["quantity"], 2
        )
    return {"items": items, "count": sum(item["quantity"] for item in items), "totals": totals}


def product_details(sku: str) -> dict[str, Any] | None:
    """An active product's card plus its description, stock, rating count and attributes."""
    product = Product.objects.active().with_details().filter(sku=sku).first()
    if product is None:
        return None
    return {
        **product_card(product, ""),
        "description": product.description,
        "stock": product.stock,
        "rating_count": product.rating_count,
        "attributes": product.attribute_dict(),
    }


def catalog_overview() -> Overview:
    """The shop's most stocked kinds of product, its brands by products and budget bands; computed
    once per catalog state (greetings and suggestions ask for it on many turns)."""
    snapshot = live_index().get()
    state = Product.objects.active().aggregate(products=Count("pk"), changed=Max("updated_at"))
    return _overview(snapshot.name if snapshot else "", state["products"], state["changed"])


@functools.lru_cache(maxsize=4)
def _overview(version: str, products: int, changed: Any) -> Overview:
    brands = (
        Product.objects.active()
        .exclude(brand=None)
        .values("brand__name")
        .annotate(products=Count("pk"))
        .order_by("-products", "brand__name")[:OVERVIEW_BRANDS]
    )
    prices = Product.objects.active().values("currency").annotate(products=Count("pk")).order_by("-products")
    bands = []
    if prices:
        currency = prices[0]["currency"]
        ordered = list(
            Product.objects.active()
            .filter(currency=currency)
            .order_by("price")
            .values_list("price", flat=True)
        )
        for share in (0.25, 0.5):
            bound = round_price(float(ordered[int(len(ordered) * share)]))
            bands.append(f"under {bound:,.0f} {currency}")
    return Overview(
        types=kinds_on_offer(OVERVIEW_TYPES),
        brands=[row["brand__name"] for row in brands],
        price_bands=list(dict.fromkeys(bands)),
    )


def _reply(turn: Turn, frame: Frame, products: list[ProductCard], shop: "ShopCatalog") -> Reply:
    return {
        "type": "reply",
        "text": turn.text,
        "intent": frame.intent,
        "slots": frame.slots,
        "state": {"query": turn.state.query, **turn.state.constraints, "cart": carts.skus(turn.state.cart)},
        "products": products,
        "compare": turn.compare,
        "suggestions": turn.suggestions,
        "cart": cart_view(turn.state.cart, shop),
    }


def record_feedback(session_key: str, sku: str, action: str) -> FeedbackEvent:
    """Store a shopper's reaction to a product the conversation has shown, credited to the ranker
    (and experiment arm) that placed it in the latest reply listing it; raises ``UnknownProduct``
    or ``ProductNotShown``."""
    product = Product.objects.filter(sku=sku).first()
    if product is None:
        raise UnknownProduct(f"No product with SKU {sku!r}.")
    conversation = Conversation.objects.filter(session_key=session_key).first()
    listing = _latest_listing(conversation, sku) if conversation else None
    if listing is None:
        raise ProductNotShown(sku)
    reply, position = listing
    context = {"query": conversation.state.get("query", ""), "position": position + 1}
    ranker = reply.ranker
    arm = reply.experiment["arms"][position] if reply.experiment else ""
    experiment = RankerExperiment.objects.filter(pk=reply.experiment["id"]).first() if arm else None
    if experiment is not None:
        ranker = experiment.ranker_of(arm)
        context |= {"experiment": experiment.pk, "arm": arm}
    event = FeedbackEvent.objects.create(
        session_key=session_key, product=product, action=action, ranker=ranker, context=context
    )
    ranking.feedback_stored(event)
    return event


def _latest_listing(conversation: Conversation, sku: str) -> tuple[Message, int] | None:
    """The latest reply of the conversation that listed ``sku``, and its position there."""
    replies = conversation.messages.filter(role=Message.Role.ASSISTANT).order_by("-created_at", "-pk")
    for reply in replies.only("ranker", "experiment", "products").iterator():
        skus = [card.get("sku") for card in reply.products or ()]
        if sku in skus:
            return reply, skus.index(sku)
    return None


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


def _locked_conversation(session_key: str) -> Conversation:
    """The session's conversation, created if new, locked for this transaction: two tabs or the
    API acting at once wait for each other instead of overwriting each other's state."""
    try:
        return Conversation.objects.select_for_update().get(session_key=session_key)
    except Conversation.DoesNotExist:
        Conversation.objects.get_or_create(session_key=session_key)  # a race may create it first
        return Conversation.objects.select_for_update().get(session_key=session_key)
