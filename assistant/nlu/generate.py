"""Training utterances generated from a catalog's vocabulary, tagged as they are built.

A small grammar per intent picks phrasings, word order, fillers, typos and
several constraints at once; every slot word is tagged as it is written, so
labels are exact. The same seed gives the same examples.
"""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .frame import INTENTS
from .normalise import normalise_value, split_words
from .vocabulary import ParserVocabulary, plural

Segment = tuple[str, str | None]  # text and the slot it fills (None: an untagged word)


@dataclass(frozen=True)
class Example:
    """One training utterance: its words, a BIO tag per word and its intent."""

    words: tuple[str, ...]
    tags: tuple[str, ...]
    intent: str

    @property
    def text(self) -> str:
        return " ".join(self.words)


def tagged(segments: Sequence[Segment], intent: str) -> Example:
    """Words and BIO tags of a sequence of segments."""
    words: list[str] = []
    tags: list[str] = []
    for text, slot in segments:
        pieces = split_words(text)
        words += pieces
        tags += [f"{'B' if i == 0 else 'I'}-{slot}" if slot else "O" for i in range(len(pieces))]
    return Example(tuple(words), tuple(tags), intent)


# Share of each intent among generated utterances.
INTENT_WEIGHTS = {
    "search": 30,
    "refine": 20,
    "product_question": 8,
    "compare": 6,
    "similar": 6,
    "add_to_cart": 6,
    "more": 4,
    "feedback_positive": 4,
    "feedback_negative": 4,
    "greet": 3,
    "goodbye": 2,
    "help": 3,
    "reset": 2,
    "out_of_scope": 4,
}
assert set(INTENT_WEIGHTS) == set(INTENTS)

_SEARCH_OPENERS = (
    "",
    "",
    "",
    "show me",
    "i'm looking for",
    "i am looking for",
    "looking for",
    "i need",
    "need",
    "i want",
    "do you have",
    "do you sell",
    "have you got",
    "got any",
    "any",
    "find me",
    "can you find me",
    "can you show me",
    "search for",
    "i'd like",
    "i would like",
    "recommend",
    "suggest",
    "please show me",
    "help me find",
    "where can i find",
    "show",
    "what",
    "which",
    "i'm after",
    "we need",
    "my wife wants",
    "any good",
    "what are your best",
    "list",
)
_REFINE_OPENERS = (
    "",
    "",
    "",
    "only",
    "just",
    "show me",
    "what about",
    "how about",
    "now",
    "ok, now",
    "hmm,",
    "actually",
    "and",
    "but",
    "can i see",
    "do you have any",
    "any",
    "maybe",
    "i prefer",
    "i'd rather have",
    "same but",
    "make it",
    "filter to",
    "show only",
    "let's see",
)
# Greetings and thanks said around a request: they never change what is asked for.
_COURTESIES = (
    "hi",
    "hello",
    "hey",
    "hi there",
    "hey there",
    "good morning",
    "good afternoon",
    "good evening",
    "morning",
    "hiya",
    "thanks",
    "thank you",
    "ok thanks",
    "thanks a lot",
    "cheers",
    "great, thanks",
    "hello again",
    "sorry",
    "excuse me",
)
# Name-like syllables: a product line's made-up name ("kallax", "hemnes") said with or instead of a type.
_NAME_ONSETS = ("b", "br", "d", "f", "fj", "g", "gr", "h", "hj", "k", "kl", "l", "m", "n", "p", "r", "s")
_NAME_ONSETS += ("sk", "sm", "st", "sv", "t", "tr", "v")
_NAME_VOWELS = ("a", "a", "e", "i", "o", "u", "y", "ae", "oe")
_NAME_CODAS = ("", "", "ll", "ck", "x", "rk", "nd", "ns", "rp", "st", "n", "m", "s", "t", "k", "lt", "rd")
_FILLERS = ("", "", "", "", "please", "pls", "thanks", "thank you", "?", "!", "for me", "today", "asap")
# Untagged asides shoppers add; they teach the tagger that not every adjective is a slot.
_CHATTER = (
    "we just moved into a new flat",
    "these look flimsy",
    "something warmer",
    "it needs to fit under a window",
    "for my new apartment",
    "it's a gift",
    "my old one broke",
    "nothing too bulky",
    "it has to be sturdy",
    "for my mum",
    "we have a small space",
    "ideally soon",
    "if possible",
    "preferably",
    "good quality please",
    "something cozy",
    "durable",
    "not too heavy",
    "the current one is too small",
    "for a friend",
    "my cat scratches everything",
    "easy to clean",
    "something elegant",
    "i work from home",
    "for the weekend",
    "nothing fancy",
    "it should last",
    "for a small apartment",
    "we have kids",
    "as a present",
    "for my dad's birthday",
    "not too big",
    "in a hurry",
    "just browsing",
    "long lasting",
    "something sleek",
)
_DETERMINERS = ("", "", "a", "an", "some", "the", "any", "two", "a couple of", "new", "nice", "good", "cheap")
_TYPO_KEYS = "abcdefghijklmnopqrstuvwxyz"
_PRICE_AT_MOST = (
    "under",
    "below",
    "less than",
    "cheaper than",
    "up to",
    "max",
    "at most",
    "no more than",
    "within",
    "not more than",
    "for less than",
    "budget",
    "my budget is",
    "under about",
    "<",
    "no more than about",
    "that costs less than",
    "maximum",
    "priced under",
)
_PRICE_AT_LEAST = (
    "over",
    "above",
    "more than",
    "at least",
    "from",
    "starting at",
    "minimum",
    "min",
    "no less than",
    "costing more than",
    ">",
    "priced above",
    "upwards of",
)
_CURRENCIES = (
    ("", ""),
    ("", ""),
    ("", ""),
    ("$", ""),
    ("", " dollars"),
    ("", " bucks"),
    ("", " usd"),
    ("", " sar"),
    ("", " riyals"),
    ("", " sr"),
    ("€", ""),
    ("", " euros"),
)
_NEGATORS = (
    "not",
    "no",
    "without",
    "but not",
    "nothing",
    "anything but",
    "except",
    "excluding",
    "avoid",
    "not in",
    "no need for",
    "i don't want",
    "i hate",
    "but no",
    "other than",
    "not made of",
)
_SORTS = (
    ("cheapest", "{}"),
    ("cheapest first", "{}"),
    ("lowest price", "sorted by {}"),
    ("price low to high", "{}"),
    ("most expensive", "{}"),
    ("highest price", "sorted by {}"),
    ("price high to low", "{}"),
    ("best rated", "{}"),
    ("top rated", "{}"),
    ("highest rated", "{}"),
    ("best reviewed", "{}"),
    ("most popular", "{}"),
    ("best selling", "{}"),
    ("bestselling", "{}"),
    ("rating", "sort by {}"),
    ("popularity", "sort by {}"),
    ("price", "sort by {}"),
    ("cheapest ones", "show the {} first"),
)
_LOWER = (
    "cheaper",
    "something cheaper",
    "cheaper ones",
    "less expensive",
    "more affordable",
    "lower price",
    "a lower price",
    "less pricey",
    "cheaper options",
    "cheaper alternatives",
    "more budget friendly",
)
_HIGHER = (
    "more expensive",
    "pricier",
    "higher end",
    "fancier",
    "more premium",
    "higher price",
    "more upmarket",
    "nicer ones, money is no issue",
    "something more expensive",
)
_ATTRIBUTE_QUESTIONS = (
    ("how much is {ref}", "how much"),
    ("what does {ref} cost", "cost"),
    ("what's the price of {ref}", "price"),
    ("price of {ref}?", "price"),
    ("how wide is {ref}", "wide"),
    ("how tall is {ref}", "tall"),
    ("how big is {ref}", "big"),
    ("what are the dimensions of {ref}", "dimensions"),
    ("how deep is {ref}", "deep"),
    ("what size is {ref}", "size"),
    ("will {ref} fit in a small room", "fit"),
    ("how long is {ref}", "long"),
    ("what is {ref} made of", "made of"),
    ("what material is {ref}", "material"),
    ("what colours does {ref} come in", "colours"),
    ("which colors is {ref} available in", "colors"),
    ("who makes {ref}", "who makes"),
    ("what brand is {ref}", "brand"),
    ("which brand makes {ref}", "brand"),
    ("how is {ref} rated", "rated"),
    ("what are the reviews for {ref}", "reviews"),
    ("rating of {ref}?", "rating"),
    ("is {ref} in stock", "in stock"),
    ("is {ref} available", "available"),
    ("can i get {ref} now", "now"),
    ("when can {ref} be delivered", "delivered"),
    ("tell me more about {ref}", "tell me more"),
    ("describe {ref}", "describe"),
    ("what is {ref} like", "like"),
    ("any details on {ref}?", "details"),
)
_REFERENCE_PHRASES = (
    ("the first one", "first"),
    ("the 1st", "1st"),
    ("the second one", "second"),
    ("the 2nd one", "2nd"),
    ("the third", "third"),
    ("the 3rd", "3rd"),
    ("the fourth one", "fourth"),
    ("the fifth", "fifth"),
    ("number 2", "2"),
    ("number 3", "3"),
    ("no. 4", "4"),
    ("#5", "5"),
    ("item 6", "6"),
    ("option 2", "2"),
    ("the last one", "last"),
    ("the last", "last"),
    ("the bottom one", "bottom"),
    ("the top one", "top"),
    ("the sixth", "sixth"),
    ("the seventh one", "seventh"),
    ("the 8th", "8th"),
    ("one 3", "3"),
)
_PRONOUNS = ("it", "this", "that one", "this one", "that", "them")
_CHAT = {
    "greet": (
        "hi",
        "hello",
        "hey",
        "hey there",
        "good morning",
        "good evening",
        "hiya",
        "yo",
        "hello!",
        "hi there",
        "howdy",
        "hey, how are you",
        "hello aisle",
        "hi, anyone there?",
        "morning",
        "greetings",
        "good afternoon",
        "sup",
        "hey hey",
        "hi :)",
    ),
    "goodbye": (
        "bye",
        "goodbye",
        "thanks, bye",
        "see you",
        "see you later",
        "that's all, thanks",
        "cheers, bye",
        "have a nice day",
        "ok that's it for today",
        "i'm done",
        "bye bye",
        "talk later",
        "ciao",
        "that's everything, goodbye",
        "thanks for the help, bye",
        "good night",
        "i'm leaving now",
    ),
    "help": (
        "help",
        "help me",
        "what can you do",
        "how does this work",
        "what can i ask",
        "i need help",
        "how do i use this",
        "what do you do",
        "can you help me?",
        "what are you",
        "how do i search",
        "what kind of things can you find",
        "i'm confused",
        "instructions please",
        "what commands are there",
        "how can you help",
        "what should i type",
        "options?",
        "are you a bot?",
    ),
    "reset": (
        "start over",
        "reset",
        "clear everything",
        "new search",
        "forget that",
        "let's start again",
        "clear filters",
        "begin again",
        "start from scratch",
        "clear all",
        "restart",
        "forget everything",
        "scrap that, new search",
        "remove all filters",
        "never mind, start again",
        "wipe it",
        "start fresh",
    ),
    "out_of_scope": (
        "what's the weather",
        "what is the weather like tomorrow",
        "tell me a joke",
        "who won the game last night",
        "book me a flight",
        "what time is it",
        "who is the president",
        "how do i cook pasta",
        "play some music",
        "what's 2+2",
        "write me a poem",
        "translate hello to french",
        "what's your name",
        "call my mom",
        "set an alarm for 7",
        "do you like pizza",
        "what is the meaning of life",
        "order me a taxi",
        "how old are you",
        "what's the capital of france",
        "can you do my homework",
        "sing a song",
        "is it going to rain",
        "recommend a movie",
        "what's bitcoin at",
        "how tall is mount everest",
        "who are you voting for",
        "explain quantum physics",
        "tell me about the news",
    ),
    "more": (
        "show me more",
        "more",
        "more please",
        "next",
        "next page",
        "any others?",
        "what else do you have",
        "keep going",
        "more options",
        "load more",
        "other options?",
        "show more results",
        "anything else?",
        "next ones",
        "more like these please",
        "give me more",
        "see more",
        "what else?",
        "continue",
        "next 5",
        "show the rest",
        "any more?",
        "page 2",
    ),
    "feedback_positive": (
        "nice",
        "love it",
        "that's perfect",
        "great",
        "these look great",
        "awesome",
        "perfect, thanks",
        "good choices",
        "i like these",
        "nice picks",
        "that's exactly it",
        "wow, beautiful",
        "these are good",
        "looks good",
        "excellent",
        "so cute",
    ),
    "feedback_negative": (
        "i don't like these",
        "not a fan",
        "hate it",
        "these are bad",
        "nope",
        "not what i wanted",
        "ugh, ugly",
        "no, these are wrong",
        "terrible",
        "meh",
        "these look cheap",
        "i dislike these",
        "not good",
        "that's awful",
        "no thanks",
        "wrong results",
        "useless",
    ),
}


class _Grammar:
    def __init__(self, vocabulary: ParserVocabulary, rng: random.Random, typo_rate: float) -> None:
        self.vocabulary = vocabulary
        self.rng = rng
        self.typo_rate = typo_rate
        self.colors = list(vocabulary.colors) * 3 + list(vocabulary.color_synonyms)
        self.materials = list(vocabulary.materials) * 2 + list(vocabulary.material_synonyms)
        self.styles = [*vocabulary.styles, "scandi", "boho", "mid century", "contemporary", "retro"]
        extra_rooms = ["home office", "garden", "balcony", "patio", "kid's room", "nursery"]
        self.rooms = [*vocabulary.rooms, *extra_rooms]
        self.categories = list(vocabulary.categories) or ["product"]
        self.brands = list(vocabulary.brands) or ["acme"]
        self.features = list(vocabulary.features) or ["storage"]

    # -- building blocks -------------------------------------------------
    def pick(self, options: Sequence[str]) -> str:
        return self.rng.choice(options)

    def typo(self, word: str) -> str:
        """Sometimes a misspelt ``word``: a letter dropped, doubled, swapped or replaced."""
        if len(word) < 4 or self.rng.random() >= self.typo_rate:
            return word
        position = self.rng.randrange(1, len(word) - 1)
        match self.rng.randrange(4):
            case 0:
                return word[:position] + word[position + 1 :]
            case 1:
                return word[:position] + word[position] + word[position:]
            case 2:
                return word[: position - 1] + word[position] + word[position - 1] + word[position + 1 :]
            case _:
                return word[:position] + self.pick(_TYPO_KEYS) + word[position + 1 :]

    def some(
        self, slot: str, options: Sequence[str], joiners: Sequence[str] = ("or", "and", ",")
    ) -> list[Segment]:
        """One value, or now and then two ("black or white")."""
        first = self.typo(self.pick(options))
        if self.rng.random() < 0.2:
            second = self.typo(self.pick(options))
            if second != first:
                return [(first, slot), (self.pick(joiners), None), (second, slot)]
        return [(first, slot)]

    def amount(self, slot: str) -> list[Segment]:
        value = self.rng.choice(
            (self.rng.randrange(10, 200), self.rng.randrange(1, 60) * 50, self.rng.randrange(2, 40) * 100)
        )
        match self.rng.randrange(6):
            case 0 if value >= 1000 and value % 100 == 0:
                number = f"{value / 1000:g}k"
            case 1 if value >= 1000:
                number = f"{value:,}"
            case 2:
                number = f"{value}.99" if value < 1000 else str(value)
            case _:
                number = str(value)
        before, after = self.pick(_CURRENCIES)
        segments: list[Segment] = [(before, None)] if before else []
        return [*segments, (number, slot), *([(after, None)] if after else [])]

    def price(self) -> list[Segment]:
        match self.rng.randrange(10):
            case 0 | 1 | 2 | 3:
                return [(self.pick(_PRICE_AT_MOST), None), *self.amount("price_max")]
            case 4 | 5:
                return [(self.pick(_PRICE_AT_LEAST), None), *self.amount("price_min")]
            case 6 | 7:
                low, high = self.amount("price_min"), self.amount("price_max")
                form = self.pick(
                    (("between", "and"), ("from", "to"), ("", "-"), ("", "to"), ("in the range", "to"))
                )
                return [(form[0], None), *low, (form[1], None), *high]
            case 8:
                return [
                    *self.amount("price_max"),
                    (self.pick(("or less", "or under", "max", "tops", "or below")), None),
                ]
            case _:
                return [
                    *self.amount("price_min"),
                    (self.pick(("or more", "and up", "and above", "+", "or above")), None),
                ]

    def negation(self) -> list[Segment]:
        slot, options = self.pick(
            (("color", self.colors), ("material", self.materials), ("brand", self.brands))
        )
        return [(self.pick(_NEGATORS), None), *self.some(f"exclude_{slot}", options)]

    def category(self) -> list[Segment]:
        name = self.pick(self.categories)
        said = plural(name) if self.rng.random() < 0.55 else name
        words = said.split()
        words[-1] = self.typo(words[-1])
        return [(" ".join(words), "category")]

    def size(self) -> list[Segment]:
        seats = str(self.rng.randrange(1, 7))
        seats = self.pick((seats, seats, "two", "three", "four"))
        return [
            (
                self.pick(
                    (
                        f"{seats}-seat",
                        f"{seats} seater",
                        f"{seats}-seater",
                        f"{seats} seat",
                        "queen size",
                        "king size",
                        "queen",
                        "king-size",
                        "double",
                        "single",
                        f"{self.rng.randrange(4, 25) * 10}x{self.rng.randrange(4, 30) * 10}",
                        f"{self.rng.randrange(4, 25) * 10} x {self.rng.randrange(4, 30) * 10}",
                    )
                ),
                "size",
            )
        ]

    def reference(self) -> list[Segment]:
        match self.rng.randrange(10):
            case 0:
                count = self.pick(("two", "three", "2", "3"))
                return [("the", None), (f"{self.pick(('first', 'top'))} {count}", "reference")]
            case 1:
                return [("the", None), ("first", "reference"), ("and the", None), ("last", "reference")]
            case 2 | 3:
                return [
                    (self.pick(("number", "#", "", "items", "options")), None),
                    (str(self.rng.randrange(1, 9)), "reference"),
                    (self.pick(("and", "or", "&", ",")), None),
                    (str(self.rng.randrange(1, 9)), "reference"),
                ]
            case _:
                phrase, key = self.pick(_REFERENCE_PHRASES)
                before, _, after = phrase.partition(key)
                return [(before, None), (key, "reference"), (after, None)]

    def single_reference(self) -> list[Segment]:
        if self.rng.random() < 0.3:
            return [(self.pick(_PRONOUNS), None)]
        phrase, key = self.pick(_REFERENCE_PHRASES)
        before, _, after = phrase.partition(key)
        return [(before, None), (key, "reference"), (after, None)]

    def modifiers(self, count: int) -> tuple[list[list[Segment]], list[list[Segment]]]:
        """``count`` constraints, split into those said before the product type and after it."""
        before: list[list[Segment]] = []
        after: list[list[Segment]] = []
        kinds = self.rng.sample(
            (
                "color",
                "material",
                "style",
                "brand",
                "feature",
                "room",
                "price",
                "negation",
                "size",
                "sort",
                "color2",
            ),
            count,
        )
        for kind in kinds:
            front = self.rng.random() < 0.55
            match kind:
                case "color" | "color2":
                    target = before if front else after
                    target.append(
                        self.some("color", self.colors)
                        if front
                        else [
                            (self.pick(("in", "in", "colour", "in a", "that is")), None),
                            *self.some("color", self.colors),
                        ]
                    )
                case "material":
                    (before if front else after).append(
                        self.some("material", self.materials)
                        if front
                        else [
                            (self.pick(("made of", "in", "made from", "with a", "in solid")), None),
                            *self.some("material", self.materials),
                        ]
                    )
                case "style":
                    (before if front else after).append(
                        [(self.typo(self.pick(self.styles)), "style")]
                        if front
                        else [
                            (self.pick(("in a", "with a")), None),
                            (self.pick(self.styles), "style"),
                            (self.pick(("style", "look", "vibe")), None),
                        ]
                    )
                case "brand":
                    (before if front else after).append(
                        self.some("brand", self.brands)
                        if front
                        else [
                            (self.pick(("from", "by", "made by", "brand")), None),
                            *self.some("brand", self.brands),
                        ]
                    )
                case "feature":
                    (before if front and len(self.features) and self.rng.random() < 0.4 else after).append(
                        [
                            (
                                self.pick(("with", "that has", "having", "with a", "that is", "which has")),
                                None,
                            ),
                            (self.pick(self.features), "feature"),
                        ]
                        if not front
                        else [(self.pick(self.features), "feature")]
                    )
                case "room":
                    after.append(
                        [
                            (self.pick(("for the", "for my", "for a", "for", "in the", "for our")), None),
                            (self.pick(self.rooms), "room"),
                        ]
                    )
                case "price":
                    after.append(self.price())
                case "negation":
                    after.append(self.negation())
                case "size":
                    before.append(self.size())
                case "sort":
                    phrase, form = self.pick(_SORTS)
                    prefix, _, suffix = form.partition("{}")
                    after.append([(prefix, None), (phrase, "sort"), (suffix, None)])
        return before, after

    def model_name(self) -> str:
        """A made-up product line name ("brimnes"): a word the vocabulary cannot know."""
        syllables = [
            self.pick(_NAME_ONSETS) + self.pick(_NAME_VOWELS) + self.pick(_NAME_CODAS)
            for _ in range(self.rng.choice((1, 2, 2, 3)))
        ]
        name = "".join(syllables)
        return name if len(name) >= 3 else name + "a"

    def courteous(self, segments: list[Segment]) -> list[Segment]:
        """Now and then a greeting or a thank-you before the request, or a thank-you after it."""
        roll = self.rng.random()
        if roll < 0.12:
            return [(self.pick(_COURTESIES), None), (self.pick(("", ",", "!", ".", " -")), None), *segments]
        if roll < 0.15:
            return [*segments, (self.pick((",", "", "!")), None), (self.pick(("thanks", "thank you")), None)]
        return segments

    # -- intents ---------------------------------------------------------
    def keywords(self) -> list[Segment]:
        """What a shopper types into a shop's search box: a type, maybe a name, a colour or a size."""
        match self.rng.randrange(10):
            case 0 | 1:
                return [(self.model_name(), None)]
            case 2 | 3:
                return [(self.model_name(), None), *self.category()]
            case 4:
                return [(self.model_name(), None), *self.some("color", self.colors)]
            case 5:
                return [
                    (self.pick(self.rooms), "room"),
                    (self.pick(("furniture", "storage", "ideas", "sets", "")), None),
                ]
            case _:
                before, after = self.modifiers(self.rng.choice((0, 0, 1, 1, 2)))
                return [
                    *(segment for part in before for segment in part),
                    *self.category(),
                    *(segment for part in after for segment in part),
                ]

    def search(self) -> list[Segment]:
        if self.rng.random() < 0.3:
            return self.keywords()
        before, after = self.modifiers(self.rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4)))
        segments: list[Segment] = [(self.pick(_SEARCH_OPENERS), None), (self.pick(_DETERMINERS), None)]
        for part in before:
            segments += part
        segments += self.category()
        if self.rng.random() < 0.08:
            segments.append(
                (
                    self.pick(
                        (
                            "for iphone 13",
                            "for galaxy s22",
                            "for my samsung galaxy",
                            "for ipad",
                            "for apple watch",
                            "for pixel 7",
                            "that fits iphone 12",
                        )
                    ),
                    None,
                )
            )
        for part in after:
            segments += [(self.pick(("", "", "", ",", "and", "but")), None), *part]
        return self.chatter([*segments, (self.pick(_FILLERS), None)])

    def chatter(self, segments: list[Segment]) -> list[Segment]:
        """Now and then an untagged aside before or after the request."""
        if self.rng.random() >= 0.15:
            return segments
        aside = [(self.pick(_CHATTER), None), (self.pick((",", ".", "-", "")), None)]
        return (
            [*aside, *segments]
            if self.rng.random() < 0.4
            else [*segments, (self.pick((",", ".", "")), None), aside[0]]
        )

    def refine(self) -> list[Segment]:
        if self.rng.random() < 0.25:
            relative = [(self.pick(_LOWER if self.rng.random() < 0.7 else _HIGHER), "price_relative")]
            extra = self.modifiers(self.rng.choice((0, 0, 1)))[1]
            opener = self.pick(
                ("", "", "show me", "anything", "something", "any", "got anything", "i want", "i need")
            )
            return self.chatter(
                [
                    (opener, None),
                    *relative,
                    *(seg for part in extra for seg in part),
                    (self.pick(_FILLERS), None),
                ]
            )
        before, after = self.modifiers(self.rng.choice((1, 1, 1, 2, 2, 3)))
        segments: list[Segment] = [(self.pick(_REFINE_OPENERS), None)]
        for part in before:
            segments += part
        if before or self.rng.random() < 0.3:
            segments.append(
                (self.pick(("ones", "ones", "", "one", "options", "instead", "versions", "models")), None)
            )
        for part in after:
            segments += [(self.pick(("", "", "and", ",")), None), *part]
        return self.chatter([*segments, (self.pick(_FILLERS), None)])

    def similar(self) -> list[Segment]:
        reference = self.single_reference()
        form = self.pick(
            (
                "more like {ref}",
                "show me similar to {ref}",
                "anything like {ref}?",
                "something similar to {ref}",
                "similar ones to {ref}",
                "find me something like {ref}",
                "i want more like {ref}",
                "got anything similar to {ref}",
                "other options like {ref}",
                "alternatives to {ref}",
                "products like {ref}",
                "similar to {ref} please",
                "what's similar to {ref}",
            )
        )
        if self.rng.random() < 0.12:
            form, reference = (
                self.pick(("similar ones", "show me similar items", "more like this", "anything similar?")),
                [],
            )
        segments = _fill(form, reference)
        if self.rng.random() < 0.15:
            segments += [(self.pick(("but", "but in", "only")), None), *self.some("color", self.colors)]
        return segments

    def compare(self) -> list[Segment]:
        if self.rng.random() < 0.15:
            return [
                (
                    self.pick(
                        (
                            "compare them",
                            "compare these",
                            "compare all of them",
                            "how do these compare",
                            "which one is better?",
                            "what's the difference between them",
                        )
                    ),
                    None,
                )
            ]
        references = self.reference()
        if not sum(slot == "reference" for _, slot in references) > 1 and "first" not in references[1][0]:
            references = [
                *references,
                (self.pick(("and", "with", "vs", "or")), None),
                *self.single_reference(),
            ]
        form = self.pick(
            (
                "compare {ref}",
                "compare {ref} for me",
                "which is better, {ref}",
                "difference between {ref}",
                "{ref} - which is better?",
                "how do {ref} compare",
                "can you compare {ref}",
                "what's the difference between {ref}",
                "put {ref} side by side",
                "{ref}, which one should i get",
                "compare {ref} please",
                "pros and cons of {ref}",
            )
        )
        return _fill(form, references)

    def product_question(self) -> list[Segment]:
        form, key = self.pick(_ATTRIBUTE_QUESTIONS)
        before, _, after = form.partition(key)
        return self.chatter(
            [
                *_fill(before, self.single_reference()),
                (key, "attribute"),
                *_fill(after, self.single_reference()),
                (self.pick(("", "", "?", "please")), None),
            ]
        )

    def add_to_cart(self) -> list[Segment]:
        form = self.pick(
            (
                "add {ref} to my cart",
                "i'll take {ref}",
                "buy {ref}",
                "put {ref} in the basket",
                "add {ref} to cart",
                "i want to buy {ref}",
                "purchase {ref}",
                "add {ref} to my bag",
                "{ref} into the cart please",
                "order {ref}",
                "i'll get {ref}",
                "cart {ref}",
                "add {ref}",
                "yes, add {ref} to the basket",
                "checkout {ref}",
            )
        )
        return _fill(form, self.single_reference())

    def feedback(self, intent: str) -> list[Segment]:
        if self.rng.random() < 0.5:
            return [(self.pick(_CHAT[intent]), None)]
        positive = intent == "feedback_positive"
        form = self.pick(
            (
                "i like {ref}",
                "i love {ref}",
                "{ref} looks great",
                "{ref} is nice",
                "{ref} is perfect",
                "really like {ref}",
                "{ref} is beautiful",
            )
            if positive
            else (
                "i don't like {ref}",
                "{ref} is ugly",
                "i hate {ref}",
                "{ref} looks cheap",
                "not a fan of {ref}",
                "{ref} is awful",
                "dislike {ref}",
            )
        )
        return _fill(form, self.single_reference())

    def chat(self, intent: str) -> list[Segment]:
        return [(self.pick(_CHAT[intent]), None)]


def _fill(form: str, reference: list[Segment]) -> list[Segment]:
    before, _, after = form.partition("{ref}")
    return [(before, None), *(reference if "{ref}" in form else []), (after, None)]


def generate_examples(
    vocabulary: ParserVocabulary, count: int, seed: int = 0, typo_rate: float = 0.08
) -> list[Example]:
    """``count`` tagged utterances over ``vocabulary``; the same seed gives the same list."""
    rng = random.Random(seed)
    grammar = _Grammar(vocabulary, rng, typo_rate)
    builders: dict[str, Callable[[], list[Segment]]] = {
        "search": grammar.search,
        "refine": grammar.refine,
        "similar": grammar.similar,
        "compare": grammar.compare,
        "product_question": grammar.product_question,
        "add_to_cart": grammar.add_to_cart,
        "feedback_positive": lambda: grammar.feedback("feedback_positive"),
        "feedback_negative": lambda: grammar.feedback("feedback_negative"),
    }
    intents, weights = zip(*INTENT_WEIGHTS.items(), strict=True)
    examples = []
    for _ in range(count):
        intent = rng.choices(intents, weights)[0]
        build = builders.get(intent, lambda intent=intent: grammar.chat(intent))
        segments = build() if intent in ("greet", "goodbye") else grammar.courteous(build())
        example = tagged(segments, intent)
        if example.words:
            examples.append(example)
    return examples


def tag_labelled(text: str, intent: str, slots: dict, vocabulary: ParserVocabulary) -> Example:
    """A labelled utterance (an admin's correction) as a tagged example.

    Each slot value is placed on the shortest run of words that normalises to
    it ("blak" for ``color: ["black"]``); values the words never say stay untagged.
    """
    words = split_words(text)
    tags = ["O"] * len(words)
    for slot, value in slots.items():
        for item in value if isinstance(value, list) and slot != "reference" else [value]:
            span = _find_span(words, tags, slot, item, vocabulary)
            if span:
                start, end = span
                tags[start:end] = [f"B-{slot}", *[f"I-{slot}"] * (end - start - 1)]
    return Example(tuple(words), tuple(tags), intent)


def _find_span(
    words: list[str], tags: list[str], slot: str, value: object, vocabulary: ParserVocabulary
) -> tuple[int, int] | None:
    wanted = value if isinstance(value, list) else [value] if slot == "reference" else value
    for length in range(1, 5):
        for start in range(len(words) - length + 1):
            if any(tag != "O" for tag in tags[start : start + length]):
                continue
            found = normalise_value(slot, " ".join(words[start : start + length]), vocabulary)
            if found == wanted or (isinstance(found, list) and found == [wanted]):
                return start, start + length
    return None
