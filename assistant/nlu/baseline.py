"""The keyword parser: regular expressions and vocabulary look-ups, no model.

It is the baseline the fine-tuned parser is measured against, and what Aisle
answers with before a parser has been trained. Slot values go through the
same normalisation as the model's spans, so only the finding differs.
"""

import re
from collections.abc import Sequence

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
    ("feedback_negative", r"\b(don't like|do not like|hate|ugly|awful|terrible|not a fan|bad|wrong|nope)\b"),
    ("feedback_positive", r"\b(like|love|great|perfect|nice|awesome|beautiful|excellent|good)\b"),
    ("greet", r"^\W*(hi|hello|hey|good (morning|afternoon|evening)|hiya|howdy|greetings|yo)\b"),
)
_SORT = (
    r"\b(cheapest( first)?|lowest price|price (low|high) to (high|low)|most expensive|highest (price|rated)|"
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
        for slot, phrases in self.phrases.items():
            found = _longest_phrases(lowered, phrases)
            if found:
                slots[slot] = found if slot in ("style", "feature") else found[0]
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
        intent = next((name for name, rule in _INTENT_RULES if re.search(rule, lowered)), None)
        if intent == "product_question" and (match := re.search(_ATTRIBUTE, lowered)):
            slots["attribute"] = normalise_value("attribute", match.group(0), self.vocabulary)
        if intent is None:
            intent = "search" if "category" in slots else "refine" if slots else "out_of_scope"
        slots = {slot: value for slot, value in slots.items() if value not in (None, [], "")}
        return Frame(intent, 1.0 if intent != "out_of_scope" else 0.5, slots)

    def parse_batch(self, texts: Sequence[str]) -> list[Frame]:
        return [self.parse(text) for text in texts]


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
