"""The shopper's cart and the words that act on it. Pure Python.

A cart is a list of ``{"sku", "quantity"}`` lines (JSON as stored), one per product. It belongs
to the shopper's session: a new search or a new conversation keeps it.

The parser's intents (CONTRACTS §3) have ``add_to_cart`` but nothing for looking at, changing
or emptying the cart, so ``cart_request`` reads those from the words. It also tells an add
("add it", "I'll take the second one") from a bare reference ("the second one"), which only
points at a product.
"""

import re
from dataclasses import dataclass
from typing import Any

Cart = list[dict[str, Any]]

NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a pair of": 2,
}  # fmt: skip
MAX_QUANTITY = 99
_NUMBER = r"(\d{1,2}|a couple of|a pair of|one|two|three|four|five|six|seven|eight|nine|ten)"
_CART = r"(cart|basket|bag|trolley)"
_SHOW = re.compile(
    rf"\b(what('s| is| do i have)? in (my|the) {_CART}|(show|view|see|open|check)( me)? (my|the) {_CART}|"
    rf"^(my|the) {_CART}\??$|what have i (added|got)|{_CART} total|how much is (my|the) {_CART})\b"
)
_CLEAR = re.compile(
    rf"\b((empty|clear|reset) (out )?(my|the) {_CART}|"
    rf"remove (everything|all( items)?)( from (my|the) {_CART})?|"
    rf"start (my|the) {_CART} (again|over))\b"
)
_REMOVE = re.compile(
    rf"\b(remove|delete|take out|drop|get rid of)\b|\bout of (my|the) {_CART}\b|\bfrom (my|the) {_CART}\b"
)
_NAMES_AN_ITEM = re.compile(
    rf"\b({_CART}|it|that|this|them|(the )?(first|second|third|fourth|fifth|last|\d+(st|nd|rd|th)) one)\b"
)
_POINTER = re.compile(
    r"\b(it|that|this|those|these|them|another|one more)\b|"
    r"\b(first|second|third|fourth|fifth|last|\d+(st|nd|rd|th)) one\b"
)
_CHECKOUT = re.compile(
    r"\b(check ?out|checkout|pay( for it| now)?|place (an |my )?order|buy (it |them )?now|"
    r"complete (my |the )?(order|purchase)|proceed to (payment|checkout))\b"
)
_ADD = re.compile(
    rf"\b(add|put|throw|pop|buy|purchase|order|get me|i'?ll (take|have|get|buy)|i will (take|have|get|buy)|"
    rf"i'?d like to (buy|order|get)|i want to (buy|order)|take (it|that|this|them|the)|"
    rf"in(to)? (my|the) {_CART}|to (my|the) {_CART})\b"
)
_AGAIN = re.compile(r"\b(another|again|too|also|more|extra|second one of)\b")
_QUANTITY = re.compile(
    rf"\b(?:make it|quantity(?: to)?|change (?:it|that|the quantity) to|set (?:it|the quantity) to)"
    rf"\s+{_NUMBER}\b"
    rf"|\b{_NUMBER}\s+(?:of (?:those|these|them|that|this|it|the \w+(?: one)?)|more|pieces|units|items|x)\b"
    rf"|\b(?:add|take|buy|order|get me|i'?ll take|i'?ll have)\s+{_NUMBER}\b(?!\s*(?:st|nd|rd|th)\b)"
)


@dataclass(frozen=True)
class CartRequest:
    """What the words ask of the cart: ``show``, ``clear``, ``remove``, ``checkout`` or ``quantity``
    (with ``quantity``)."""

    action: str
    quantity: int | None = None


def cart_request(text: str) -> CartRequest | None:
    """The cart action ``text`` asks for, or ``None`` when it asks none (an add is the parser's)."""
    said = _plain(text)
    if _CLEAR.search(said):
        return CartRequest("clear")
    if _CHECKOUT.search(said):
        return CartRequest("checkout")
    if _SHOW.search(said):
        return CartRequest("show")
    if _REMOVE.search(said) and _NAMES_AN_ITEM.search(said):
        return CartRequest("remove")
    quantity = said_quantity(said)
    if quantity is not None and not _ADD.search(said.replace("make it", "")):
        return CartRequest("quantity", quantity)
    return None


def asks_to_add(text: str) -> bool:
    """Whether the words put something in the cart ("add it", "I'll take the second one"), not only
    point at a product ("the second one", "that one")."""
    return bool(_ADD.search(_plain(text)))


def adds_a_shown_product(text: str) -> bool:
    """Whether the words put a product already shown in the cart: "add 2 of those", "I'll take
    that one", "put the second one in my basket"."""
    return asks_to_add(text) and bool(_POINTER.search(_plain(text)))


def asks_again(text: str) -> bool:
    """Whether an add asks for one more of a product already in the cart ("add another")."""
    return bool(_AGAIN.search(_plain(text)))


def said_quantity(text: str) -> int | None:
    """The quantity the words name ("two of those", "make it 3", "add 2"), or ``None``."""
    match = _QUANTITY.search(_plain(text))
    if match is None:
        return None
    word = next(group for group in match.groups() if group)
    value = int(word) if word.isdigit() else NUMBER_WORDS[word]
    return max(1, min(value, MAX_QUANTITY))


def lines(cart: Any) -> Cart:
    """A stored cart as lines; an older layout (a list of SKUs, repeats for quantity) converted."""
    result: Cart = []
    for item in cart or []:
        sku, quantity = (item, 1) if isinstance(item, str) else (item.get("sku"), item.get("quantity", 1))
        if not isinstance(sku, str) or not sku:
            continue
        existing = next((line for line in result if line["sku"] == sku), None)
        if existing is not None:
            existing["quantity"] = min(existing["quantity"] + int(quantity), MAX_QUANTITY)
        else:
            result.append({"sku": sku, "quantity": max(1, min(int(quantity), MAX_QUANTITY))})
    return result


def added(cart: Cart, sku: str, quantity: int = 1) -> Cart:
    """``cart`` with ``quantity`` more of ``sku``."""
    return lines([*cart, {"sku": sku, "quantity": quantity}])


def with_quantity(cart: Cart, sku: str, quantity: int) -> Cart:
    """``cart`` with ``sku``'s quantity set (added when absent)."""
    others = [line for line in cart if line["sku"] != sku]
    position = next((at for at, line in enumerate(cart) if line["sku"] == sku), len(others))
    return [*others[:position], {"sku": sku, "quantity": quantity}, *others[position:]]


def without(cart: Cart, sku: str) -> Cart:
    return [line for line in cart if line["sku"] != sku]


def quantity_of(cart: Cart, sku: str) -> int:
    return next((line["quantity"] for line in cart if line["sku"] == sku), 0)


def skus(cart: Cart) -> list[str]:
    return [line["sku"] for line in cart]


def item_count(cart: Cart) -> int:
    return sum(line["quantity"] for line in cart)


def _plain(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())
