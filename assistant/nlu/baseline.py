"""The keyword parser: regular expressions and vocabulary look-ups, no model.

It is the baseline the fine-tuned parser is measured against, and what Aisle
answers with before a parser has been trained. Slot values go through the
same normalisation as the model's spans, so only the finding differs.
"""

import functools
import re
from collections.abc import Sequence

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from catalog.retrieval.keyword_slots import Vocabulary, extract_slots

from .frame import Frame
from .normalise import normalise_value, split_words
from .vocabulary import ROOM_SYNONYMS, STYLE_SYNONYMS, ParserVocabulary, plural

_INTENT_RULES: tuple[tuple[str, str], ...] = (
    (
        "reset",
        r"\b(start (over|again|fresh)|reset|clear (all|everything|filters)|new search|restart|forget)\b",
    ),
    ("add_to_cart", r"\b(cart|basket|bag|buy|purchase|checkout|i'll (take|get))\b"),
    ("compare", r"\b(compare|difference|versus|vs|which (one )?is better|side by side)\b"),
    ("similar", r"\b(similar|alternatives?|(more|anything|something|ones|products) like)\b"),
    (
        "product_question",
        r"\b(how (much|wide|tall|big|deep|long|is)|made of|who makes|in stock|available|rated|ratings?|"
        r"reviews?|dimensions|describe|tell me (more|about)|what (size|brand|material|colou?rs?))\b",
    ),
    ("help", r"\b(help|what can you do|how does this work|what can i ask|how do i)\b"),
    ("goodbye", r"\b(bye|goodbye|see you|that's (all|it|everything)|good night|i'm done)\b"),
    ("more", r"^\W*(show )?(me )?(more|next|any others|what else|keep going|load more|other options)\b"),
    ("greet", r"^\W*(hi|hello|hey|good (morning|afternoon|evening)|hiya|howdy|greetings|yo)\b"),
    ("feedback_negative", r"\b(don't like|do not like|hate|ugly|awful|terrible|not a fan|bad|wrong|nope)\b"),
    ("feedback_positive", r"\b(like|love|great|perfect|nice|awesome|beautiful|excellent|good)\b"),
)
_COURTESY = re.compile(
    r"^\W*((hi|hello|hey|hiya|howdy|greetings)( there)?|good (morning|afternoon|evening)|morning|"
    r"(ok |okay )?(thanks|thank you|thx|cheers)( a lot| so much| very much)?|sorry|excuse me)(?!\w)\W*"
)
"""A greeting or thank-you before a request: it says nothing about what is asked for."""
_REQUEST = re.compile(
    r"\b(do you (have|sell|carry|stock)|have you got|got any|any|looking for|i need|i want|i'm after|"
    r"where (are|is|can i find)|show me|find me|search for)\b"
)
"""Words that ask for products even when the products are named in words the vocabulary lacks."""
_SMALL_TALK = frozenset({"greet", "goodbye", "help"})
"""Intents a word like "hi", "bye" or "help" suggests, unless the utterance also asks for products."""
_PRODUCT_SLOTS = frozenset(
    {"category", "brand", "color", "material", "style", "feature", "room", "size", "price_min", "price_max"}
)
_SORT = (
    r"\b(cheapest( first)?|lowest price|price (low|high) to (high|low)|most expensive|highest (price|rated)|"
    r"priciest|dearest|(sort(ed)?|order(ed)?) by (price|rating|popularity)( (high|low) to (high|low))?|"
    r"(better|higher|highly|well) (rated|reviewed)|better reviews|"
    r"(low|lowest|high|highest) to (high|highest|low|lowest)|"
    r"best (rated|reviewed|selling)|top rated|most popular|bestselling)\b"
)
_RELATIVE = (
    r"\b(cheaper|less expensive|more affordable|lower price|more expensive|pricier|higher end|fancier)\b"
)
_REFERENCE = (
    r"\b((the )?(first|second|third|fourth|fifth|sixth|last|\d+(st|nd|rd|th))( (one|two|three))?|"
    r"(number|#|item|option) ?\d+)\b"
)
_SIZE = r"\b(\d+ ?(-| )?(seat|seater)s?|\d+ ?(x|by) ?\d+|(single|double|queen|king)( |-)?(size|bed)?)\b"
_ATTRIBUTE = (
    r"\b(how (much|wide|tall|big|deep|long)|made of|who makes|in stock|available|rated|ratings?|reviews?|"
    r"dimensions|describe|tell me (more|about)|size|brand|material|colou?rs?|cost|price)\b"
)


class KeywordParser:
    """Frames from keyword rules over a vocabulary; confidence is 1 when a rule fired, 0.5 otherwise."""

    def __init__(self, vocabulary: ParserVocabulary) -> None:
        self.vocabulary = vocabulary
        self.brands = Vocabulary(vocabulary.brands)
        self.phrases: dict[str, dict[str, str]] = {
            "category": {said: name for name in vocabulary.categories for said in (name, plural(name))},
            "style": {style: style for style in vocabulary.styles} | STYLE_SYNONYMS,
            "room": {room: room for room in vocabulary.rooms} | ROOM_SYNONYMS,
            "feature": {feature: feature for feature in vocabulary.features},
        }

    def parse(self, text: str) -> Frame:
        lowered = " ".join(split_words(text))
        slots = extract_slots(lowered, self.brands)
        # "with adjustable armrests": what the product has, not what it is.
        named = functools.reduce(
            lambda text, feature: text.replace(feature, " "), slots.get("feature", []), lowered
        )
        for slot, phrases in self.phrases.items():
            found = _longest_phrases(named if slot == "category" else lowered, phrases)
            if found:
                slots[slot] = found if slot in ("style", "feature") else found[0]
        if "category" not in slots and (typed := _misspelt_category(named.split(), self.vocabulary)):
            slots["category"] = typed
        for slot, pattern in (("size", _SIZE), ("sort", _SORT), ("price_relative", _RELATIVE)):
            if match := re.search(pattern, lowered):
                slots[slot] = normalise_value(slot, match.group(0), self.vocabulary)
        references = [
            position
            for match in re.finditer(_REFERENCE, lowered)
            for position in normalise_value("reference", match.group(0), self.vocabulary) or []
        ]
        if references:
            slots["reference"] = list(dict.fromkeys(references))
        request = _COURTESY.sub("", lowered, count=1)
        intent = _intent(request, slots)
        if intent is None and not slots and not _REQUEST.search(request):
            intent = _intent(lowered, slots)  # "hey, how are you": nothing asked for past the greeting
        if intent == "product_question" and (match := re.search(_ATTRIBUTE, lowered)):
            slots["attribute"] = normalise_value("attribute", match.group(0), self.vocabulary)
        intent = intent or _unruled_intent(request, slots)
        slots = {slot: value for slot, value in slots.items() if value not in (None, [], "")}
        return Frame(intent, 1.0 if intent != "out_of_scope" else 0.5, slots)

    def parse_batch(self, texts: Sequence[str]) -> list[Frame]:
        return [self.parse(text) for text in texts]


def _intent(text: str, slots: dict) -> str | None:
    """The first intent rule ``text`` meets. Small talk and "buy" words yield to a product request:
    "hi, any bunk beds?", "help me find a desk" and "i want to buy a sofa" are searches."""
    if not text:
        return None
    products = not _PRODUCT_SLOTS.isdisjoint(slots)
    for name, rule in _INTENT_RULES:
        if products and (name in _SMALL_TALK or (name == "add_to_cart" and "reference" not in slots)):
            continue
        if re.search(rule, text):
            return name
    return None


def _misspelt_category(words: list[str], vocabulary: ParserVocabulary) -> str | None:
    """The product type a typo names ("wardobe", "bar stoool"): two words, then one, of five letters
    or more that no other word list knows, one edit from a type. One edit, not the tagger's two:
    here no model has said that the words are a product type at all."""
    known = {*vocabulary.colors, *vocabulary.materials, *vocabulary.styles, *vocabulary.rooms}
    for size in (2, 1):
        for start in range(len(words) - size + 1):
            phrase = " ".join(words[start : start + size])
            if len(phrase) < 5 or phrase in known:
                continue
            match = process.extractOne(
                phrase, vocabulary.categories, scorer=DamerauLevenshtein.distance, score_cutoff=1
            )
            if match:
                return match[0]
    return None


def _unruled_intent(text: str, slots: dict) -> str:
    """The intent when no rule fired: a product type is a search, other slots refine, words that
    ask for something are a search, anything else is out of scope."""
    if "category" in slots:
        return "search"
    if slots:
        return "refine"
    return "search" if _REQUEST.search(text) else "out_of_scope"


def _longest_phrases(text: str, phrases: dict[str, str]) -> list[str]:
    """Canonical values of the phrases in ``text``, longest phrase first wins its words."""
    found: list[tuple[int, str]] = []
    for phrase in sorted(phrases, key=len, reverse=True):
        if phrase not in text:  # a substring test first: compiling a pattern per phrase is slow
            continue
        for match in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text):
            found.append((match.start(), phrases[phrase]))
            text = text[: match.start()] + " " * len(phrase) + text[match.end() :]
    return list(dict.fromkeys(value for _, value in sorted(found)))
