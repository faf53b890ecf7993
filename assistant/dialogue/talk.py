"""Messages that are not about one product: questions about the shop, its policies, and requests
too vague to search ("a gift for my dad", "stuff"). Pure Python, read from the words: CONTRACTS
§3's intents have no place for them, and the parser calls most of them ``out_of_scope``.
"""

import re

_BRANDS = re.compile(
    r"\b((what|which) brands?|brands? (do|does|have|can) (you|u)|(what|which) makers?|who makes your)\b"
)
_RANGE = re.compile(
    r"\b(what (do|can|else do) (you|u) (sell|have|offer|stock|carry)|"
    r"what('s| is) (on offer|in your (range|shop|store|catalog(ue)?))|"
    r"what (kinds?|sorts?|types?) of (products|things|stuff|items|furniture)|(which|what) categories|"
    r"what('s| is) (your|the) (range|catalog(ue)?)|what products)\b"
)
_POLICY = re.compile(
    r"\b(ship(ping)?|deliver(y|ies)?|returns?( policy)?|refunds?|exchange( policy)?|warrant(y|ies)|guarantee|"
    r"pay(ment)? (with|by|options|methods)|paypal|credit card|instal+ments?|opening (hours|times)|"
    r"store hours|open (on|until|today)|(where|address of) (is )?(the|your) (store|shop)|click and collect|"
    r"pick ?up in store|"
    r"track(ing)? (my )?order|order status|discount code|coupon|promo code|voucher|customs|vat|tax|"
    r"price ?match(ing)?|match (a|the|their) price|loyalty|rewards? (card|points|program))\b"
)
_OCCASION = re.compile(
    r"\b(gift|gifts|present|presents|birthday|christmas|xmas|anniversary|housewarming|wedding|valentine'?s?|"
    r"mother'?s day|father'?s day|graduation|retirement|secret santa|stocking filler)\b"
)
_FOR_SOMEONE = re.compile(
    r"\bfor (my|our|a|the) (new )?(dad|father|mum|mom|mother|wife|husband|girlfriend|boyfriend|partner|son|"
    r"daughter|kids?|children|baby|friend|boss|colleague|grandma|grandmother|grandpa|grandfather|brother|"
    r"sister|parents|teenager|flat|apartment|home|house|place|student|office)\b"
)
_CHIT_CHAT = re.compile(
    r"\b(weather|forecast|temperature outside|news|headlines|politics|elections?|president|"
    r"(tell|know) (me )?(a |any )?(joke|story|poem)|jokes?|sing( me)?|"
    r"who are you|what are you|are you (a |an )?(bot|robot|human|real|person|ai)|your name|how are you|"
    r"how old are you|meaning of life|what time is it|what day is (it|today)|what'?s the (time|date)|"
    r"(football|soccer|basketball|baseball|cricket) (score|scores|results?|match|game)|who won|recipe|"
    r"homework|translate)\b"
)
"""Talk that is about something other than shopping ("what's the weather like?")."""
_IDEAS = re.compile(r"\b(ideas?|inspiration|suggestions?|recommend(ation)?s?|what should i (buy|get))\b")
_TOO_VAGUE = re.compile(
    r"^\W*(stuff|things|something|anything|whatever|products?|items?|show me (something|anything|stuff)|"
    r"i need (something|stuff)|(i'?m )?(just )?(looking|browsing)( around)?)\W*$"
)


def shop_question(text: str) -> str | None:
    """``"brands"``, ``"range"`` or ``"policy"`` for a question about the shop, else ``None``."""
    said = _plain(text)
    if _BRANDS.search(said):
        return "brands"
    if _RANGE.search(said):
        return "range"
    if _POLICY.search(said):
        return "policy"
    return None


def is_chit_chat(text: str) -> bool:
    """Whether the words talk about something other than shopping: the weather, jokes, the
    assistant itself. The caller checks that they name no product type."""
    return bool(_CHIT_CHAT.search(_plain(text)))


def is_vague(text: str) -> bool:
    """Whether the words ask for help choosing, not for a kind of product: a gift, an occasion,
    "something for my new flat", "ideas", or "stuff" alone. The caller checks that they name no
    product type."""
    said = _plain(text)
    return bool(
        _OCCASION.search(said) or _FOR_SOMEONE.search(said) or _IDEAS.search(said) or _TOO_VAGUE.match(said)
    )


def _plain(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())
