"""What a conversation remembers between turns. No Django: stored as JSON by the app."""

from dataclasses import asdict, dataclass, field
from typing import Any

from .cart import lines


@dataclass
class DialogueState:
    """Active constraints, the last shown list, the product in focus, pages seen and the cart."""

    query: str = ""
    """The words of the search the constraints belong to."""
    constraints: dict[str, Any] = field(default_factory=dict)
    """The active slots (``ACTIVE_SLOTS`` of ``catalog.retrieval.constraints``) by name."""
    shown: list[str] = field(default_factory=list)
    """SKUs of the most recent product list, in order: positions count here."""
    seen: list[str] = field(default_factory=list)
    """Every SKU shown for the current search, so that "more" pages on."""
    focus: str | None = None
    """The product "it" and "that one" mean."""
    similar_to: str | None = None
    """The product the list shows neighbours of, so that "more" pages on through them."""
    cart: list[dict[str, Any]] = field(default_factory=list)
    """``{"sku", "quantity"}`` lines (``cart.py``); the session's, kept by new searches and resets."""
    liked: list[str] = field(default_factory=list)
    """SKUs the shopper liked, so that the page shows them liked after a reload."""
    pending: str = ""
    """What a guided question waits for: ``"interest"`` after "a gift for my dad"."""
    turns: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, stored: dict[str, Any] | None) -> "DialogueState":
        """The state stored by ``as_dict``; unknown keys (older layouts) are ignored and a cart
        stored as a list of SKUs becomes lines."""
        known = {name: value for name, value in (stored or {}).items() if name in cls.__dataclass_fields__}
        state = cls(**known)
        state.cart = lines(state.cart)
        return state
