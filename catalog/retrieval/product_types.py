"""The catalog's product types, and the model that maps a shopper's product phrase onto them.

``TypeVocabulary.build`` reads every product's type text (IKEA's type phrase, a
Best Buy leaf category, or the leaf of a category path when a product has no
type) and derives, with rules that know English noun phrases but no catalog:

- a canonical key per type ("unlocked cell phone", "cover for 3-seat sofa");
- the type's head *concept* ("sofa" for "3-seat sofa", "cover" for "cover for
  3-seat sofa", "chest of drawer" for "chest of 3 drawers", "table and chair"
  for "table and 4 chairs"; keys singular, labels as written), plus broader
  concepts its category path names
  ("iphone" sits under "Cell Phones", so it is also a "phone");
- whether it is an accessory, and of what ("cover for ..." types, and anything
  under a category "... Accessories").

``resolve`` maps a phrase to the types of one concept, narrowed by the
phrase's other type words ("3-seat sofa", "iphone 7 case"). Words are matched
exactly after plural folding, then with typo correction against the catalog's
own type words, then by nearest centroid in MiniLM space: each concept's
centroid is the mean of its products' vectors and its type names' vectors, so
"couch" lands on sofa and "mobile" on phone. A phrase that looks like a
product noun but is near no concept ("fridge") gets an empty match with the
closest concepts. No Django imports.
"""

import functools
import itertools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from .synonyms import Synonyms

FORMAT_VERSION = 1
NO_TYPE = -1
# Cosine of a query to a concept's name or centroid (MiniLM) from which the
# phrase names that concept ("couch" -> sofa 0.86, "closet" -> wardrobe 0.64
# falls short, "tv" -> cable 0.63 rightly so). Below it the phrase still names
# some product the catalog lacks from PRODUCT_COSINE, or from WORD_COSINE
# when one of its words is an ordinary English word ("fridge" 0.41 on the
# demo catalog, "thanks a lot" 0.18-0.33). Measured with
# benchmarks/type_resolution.py and tests/test_product_types.py.
SYNONYM_COSINE = 0.65
PRODUCT_COSINE = 0.45
WORD_COSINE = 0.36
# When names and centroids fall short, the products nearest the query may still
# agree on one kind: "closet" is near no concept's name, but its 20 nearest
# products are wardrobes. A vote needs this share of them, and the nearest at
# least this cosine ("settee" reaches 0.30: wardrobes, by chance).
NEIGHBOURS = 20
NEIGHBOUR_SHARE = 0.7
NEIGHBOUR_COSINE = 0.40
CLOSEST = 3
# Concepts offered as "closest" need this many products: not one-off parts.
CLOSEST_MIN_PRODUCTS = 5
# The language of a shopping query around a product noun (English closed
# classes: function words, courtesy, price and size words, colours and
# materials). A phrase made of these alone names no product.
_QUERY_TEXT = """a an the some any something anything thing things stuff item items product products
    one ones it
    this that these those me my i you we us our your please pls plz thanks thank hi hello hey bye goodbye
    ok okay yes no not nice good great best better cool pretty lovely beautiful cheap cheaper cheapest
    expensive affordable budget price prices cost costs under over below above less more than between and
    or with without for in on of to from by at show find want need needs looking look buy get have has
    do does is are be which what how much many sort sorted order first last new newest popular rating
    rated like similar other another else too very really just only also again cm mm inch inches kg usd
    eur sar dollars dollar euro euros small large big tiny wide tall high low long short black white grey
    gray red blue green yellow orange pink purple brown beige silver gold navy cream dark light natural
    oak pine birch walnut wood wooden metal steel leather fabric cotton linen plastic velvet rattan bamboo
    marble lowest highest lower higher top cheapest priciest dearest ascending descending reviewed
    selling seller sellers bestselling"""
QUERY_WORDS = frozenset(_QUERY_TEXT.split())
# Nouns naming a form or grouping of another thing: "bed frame" is a bed,
# "wardrobe combination" a wardrobe, when the catalog has that thing as a type.
STRUCTURAL = frozenset({"frame", "combination", "unit", "section", "module", "set", "combo", "system"})
# Words after which a phrase says something other than what the product is.
CUT_WORDS = frozenset(
    {
        "with", "without", "w", "on", "in", "under", "below", "over", "above", "between", "less", "more",
        "cheaper", "from", "by", "that", "which", "made", "around", "at", "near", "max", "min", "within",
        "than", "up", "to", "price", "priced", "costing", "color", "colour", "size", "no", "not", "but",
    }
)  # fmt: skip
QUANTITY_WORDS = frozenset({"pair", "set", "pack", "kit"})
NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "single": "1", "double": "2",
}  # fmt: skip
# Written forms that the singular rule below would break.
INVARIANT = frozenset({"clothes", "series", "species", "news", "wireless", "plus", "bus", "gps", "lens"})
_NOT_PLURAL_ENDINGS = ("ss", "us", "is", "ics", "'s")
IRREGULAR = {
    "lenses": "lens",
    "mice": "mouse",
    "feet": "foot",
    "children": "child",
    "shelves": "shelf",
    "knives": "knife",
    "leaves": "leaf",
}
ACCESSORY_SEGMENT = re.compile(r"^(?P<of>.*?)\s*(?:&\s*|and\s+)?accessories$")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9'\-]*")


class TextEncoder(Protocol):
    """Anything that encodes texts to unit vectors, like ``encoder.Encoder``."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class TypeRow:
    """What the vocabulary reads of one product.

    ``categories`` holds category paths, each a tuple of names from the root
    or one ``"A > B"`` string.
    """

    type: str
    categories: Sequence[Sequence[str] | str] = ()
    title: str = ""


@dataclass(frozen=True)
class ProductType:
    """One catalog type: its key, head concept, broader concepts and accessory role."""

    id: int
    key: str
    label: str
    head: str
    concepts: tuple[str, ...]
    accessory: bool
    accessory_of: str | None
    count: int
    words: tuple[str, ...]


@dataclass(frozen=True)
class TypeMatch:
    """What a product phrase names: catalog types (with sub-types) of one concept.

    ``type_ids`` is empty when the phrase names a product the catalog does not
    carry; ``closest`` then lists up to three concepts it does. ``method`` is
    how the concept was found: ``exact``, ``typo``, ``embedding`` or
    ``unsupported``.
    """

    concept: str
    label: str
    type_ids: tuple[int, ...]
    keys: tuple[str, ...]
    confidence: float
    accessory: bool
    method: str
    closest: tuple[str, ...] = field(default=())

    @property
    def supported(self) -> bool:
        return bool(self.type_ids)


# ---------------------------------------------------------------------------
# Words


def singular(word: str) -> str:
    """The singular of an English plural noun, by rule; other words unchanged."""
    if "/" in word:
        return "/".join(singular(part) for part in word.split("/"))
    if word in IRREGULAR:
        return IRREGULAR[word]
    if (
        len(word) <= 3
        or word in INVARIANT
        or word[-1] != "s"
        or word.endswith(("ss", "us", "is", "ics", "'s"))
    ):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("lves"):
        return word[:-3] + "f"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    return word[:-1]


def plural(word: str) -> str:
    """The plural of a singular noun (the inverse of ``singular`` for most words)."""
    irregular = {one: many for many, one in IRREGULAR.items()}
    if word in irregular:
        return irregular[word]
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith("lf"):
        return word[:-1] + "ves"
    if word.endswith(("ch", "sh", "ss", "x", "z")):
        return word + "es"
    return word if word.endswith("s") else word + "s"


def normalise(text: str) -> str:
    """Lower case, one space, ASCII-ish abbreviations spelt out (``w`` -> with, ``+`` -> and)."""
    text = text.lower().replace("’", "'").replace("&", " & ").replace("+", " and ")
    text = re.sub(r"[®™©()\[\],;:!?\"]", " ", text)
    text = re.sub(r"(?<=\w)'s\b", "", text)
    words = []
    for word in text.split():
        word = word.strip(".'")
        if word == "w":
            word = "with"
        elif word == "f":
            word = "for"
        elif "-" in word and word.split("-")[0] in NUMBER_WORDS:
            head, _, rest = word.partition("-")
            word = f"{NUMBER_WORDS[head]}-{rest}"
        if word:
            words.append(word)
    return " ".join(words)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _has_digit(word: str) -> bool:
    return any(character.isdigit() for character in word)


def _word_forms(word: str) -> list[str]:
    """A word and, for a hyphenated one, its parts: "sofa-bed" -> sofa-bed, sofa, bed."""
    forms = [word]
    if "-" in word:
        forms += [part for part in word.split("-") if part]
    return forms


# ---------------------------------------------------------------------------
# Type phrases


@dataclass
class _Phrase:
    """A type phrase taken apart: the words naming the thing, and what it is for."""

    core: list[str]
    of: list[str]
    pair: list[str] | None = None


def _split_phrase(text: str) -> _Phrase:
    """Split at "for" (what it is for), cut at "with"/"on"/"in" (its extras) and at a "/" list."""
    words = [word for word in text.replace(" & ", " and ").split() if word != "&"]
    of: list[str] = []
    if "for" in words[1:]:
        at = words.index("for")
        words, of = words[:at], _drop_slashes(words[at + 1 :])
    words = _drop_slashes(words)
    for at, word in enumerate(words):
        if word in CUT_WORDS and at > 0:
            words = words[:at]
            break
    if words and words[0] in QUANTITY_WORDS and len(words) > 2 and words[1] == "of":
        words = words[2:]
    if "and" in words:
        at = words.index("and")
        left, right = words[:at], words[at + 1 :]
        if right and _has_digit(right[0]) and left:
            # "table and 4 chairs": a set of two things.
            return _Phrase(core=left, of=of, pair=[word for word in right if not _has_digit(word)])
        if len(left) == 1 and right:
            # "car & travel accessories": one head shared by both.
            words = right
        elif left:
            words = left
    return _Phrase(core=[word for word in words if not _has_digit(word)] or words, of=of)


def _drop_slashes(words: list[str]) -> list[str]:
    """ "door/drawer front" is a drawer front; "wall upright/shelves/rod" a wall upright (and more)."""
    for at, word in enumerate(words):
        if "/" not in word:
            continue
        first, _, rest = word.partition("/")
        if at == 0:
            return [rest.partition("/")[0], *words[1:]] if rest else words[1:]
        return [*words[:at], first] if first else words[:at]
    return words


class _HeadRules:
    """Finds a phrase's head concept, knowing which words end some type's name (``strong``)."""

    def __init__(self, strong: set[str]) -> None:
        self.strong = strong

    def head(self, words: Sequence[str]) -> str:
        """The concept a noun phrase names: its rightmost head word, kept with "of ..." phrases."""
        words = [singular(word) for word in words if word and not _has_digit(word)]
        if not words:
            return ""
        if "of" in words[1:]:
            at = words.index("of")
            return " ".join([self.head(words[:at]), "of", *words[at + 1 :]])
        word = words[-1]
        if word in STRUCTURAL and len(words) > 1:
            modifier = self._hyphen_head(words[-2])
            return modifier if modifier in self.strong else f"{words[-2]} {word}"
        return self._hyphen_head(word)

    def _hyphen_head(self, word: str) -> str:
        """ "day-bed" is a bed, "rocking-chair" a chair; "sofa-bed" is a thing of its own."""
        if "-" not in word:
            return word
        parts = [part for part in word.split("-") if part]
        if len(parts) == 2 and parts[1] in self.strong and parts[0] not in self.strong:
            return parts[1]
        return word

    def of_phrase(self, phrase: _Phrase) -> str:
        if phrase.pair is not None:
            return f"{self.head(phrase.core)} and {self.head(phrase.pair)}"
        return self.head(phrase.core)


def _path_segments(path: Sequence[str] | str) -> list[str]:
    names = path.split(">") if isinstance(path, str) else list(path)
    return [normalise(name.strip()).removeprefix("all ") for name in names if name.strip()]


def _type_key(text: str) -> str:
    """The canonical key: normalised, head noun (last word before "with"/"for"/...) singular."""
    words = text.split()
    end = len(words)
    for at, word in enumerate(words):
        if at > 0 and (word in CUT_WORDS or word in ("for", "of", "and", "&")):
            end = at
            break
    if end:
        words[end - 1] = singular(words[end - 1])
    return " ".join(words)


# ---------------------------------------------------------------------------
# The vocabulary


@dataclass
class Concept:
    """A head concept: its types (accessory ones only if the concept is an accessory's)."""

    name: str
    label: str
    type_ids: list[int]
    accessory: bool
    count: int


class TypeVocabulary:
    """The catalog's types and concepts, the per-product type codes, and the phrase resolver."""

    def __init__(
        self,
        types: list[ProductType],
        codes: np.ndarray,
        dictionary: Iterable[str] = (),
        name_vectors: np.ndarray | None = None,
        centroids: np.ndarray | None = None,
        type_vectors: np.ndarray | None = None,
        product_vectors: np.ndarray | None = None,
    ) -> None:
        """``product_vectors`` are the products' unit vectors, row-aligned with ``codes`` (the
        index holds them; they are not saved here)."""
        self.types = types
        self.codes = np.asarray(codes, dtype=np.int32)
        self.dictionary = frozenset(dictionary)
        self.concepts = self._concepts(types)
        self.concept_names = sorted(self.concepts)
        self.name_vectors = name_vectors
        self.centroids = centroids
        self.type_vectors = type_vectors
        self.product_vectors = product_vectors
        self._index_words()
        self._corrections: dict[str, str | None] = {}

    # -- building ---------------------------------------------------------

    @classmethod
    def build(
        cls,
        rows: Sequence[TypeRow],
        encoder: TextEncoder | None = None,
        vectors: np.ndarray | None = None,
        dictionary: Iterable[str] | None = None,
    ) -> "TypeVocabulary":
        """Learn the vocabulary from the catalog's rows (one per product, in index order).

        :param encoder: encodes type names for the embedding stage; without it
            only exact and typo matching work.
        :param vectors: the products' unit vectors, row-aligned with ``rows``
            (the index has them); they make each concept's centroid.
        :param dictionary: ordinary words that are never typo-corrected; by
            default the encoder's tokenizer vocabulary when it has one.
        """
        texts = [_row_type(row) for row in rows]
        keys = [_type_key(text) if text else "" for text in texts]
        distinct = sorted({key for key in keys if key})
        phrases = {key: _split_phrase(key) for key in distinct}
        strong = {singular(_before_of(phrase.core)[-1]) for phrase in phrases.values() if phrase.core}
        rules = _HeadRules(strong)
        heads = {key: rules.of_phrase(phrases[key]) for key in distinct}
        concepts = {head for head in heads.values() if head} | strong
        counts = Counter(key for key in keys if key)
        accessory_heads = _accessory_heads(heads, phrases, rules, counts, concepts)
        for key, phrase in phrases.items():
            # "cover 3-seat sofa" is "cover for 3-seat sofa" without the "for".
            if len(phrase.core) > 1 and not phrase.of and singular(phrase.core[0]) in accessory_heads:
                phrase.of, phrase.core = phrase.core[1:], phrase.core[:1]
                heads[key] = rules.of_phrase(phrase)

        broader: dict[str, set[str]] = defaultdict(set)
        path_targets: dict[str, Counter[str]] = defaultdict(Counter)
        for row, key in zip(rows, keys, strict=True):
            if key:
                _read_paths(row, key, heads[key], rules, concepts, broader[key], path_targets[key])
        types = []
        for number, key in enumerate(distinct):
            head = heads[key]
            target = _accessory_target(phrases[key], head, rules, concepts, accessory_heads)
            if path_targets[key]:
                target = path_targets[key].most_common(1)[0][0] or None
            words = {singular(form) for word in _tokens(key) for form in _word_forms(word)}
            types.append(
                ProductType(
                    id=number,
                    key=key,
                    label=_label(texts, keys, key),
                    head=head,
                    concepts=tuple(sorted({head} | broader[key] - {""})),
                    accessory=bool(path_targets[key]) or target is not None or head in accessory_heads,
                    accessory_of=target,
                    count=counts[key],
                    words=tuple(sorted(words)),
                )
            )
        position = {key: number for number, key in enumerate(distinct)}
        codes = np.array([position.get(key, NO_TYPE) for key in keys], dtype=np.int32)
        if dictionary is None:
            dictionary = _tokenizer_words(encoder)
        vocabulary = cls(types, codes, dictionary)
        vocabulary._type_by_title(rows)
        if encoder is not None:
            vocabulary._fit_vectors(encoder, vectors)
        vocabulary.product_vectors = vectors
        return vocabulary

    def _type_by_title(self, rows: Sequence[TypeRow]) -> None:
        """Give a product with neither a type nor a category the type its title names ("Xylo
        ottoman" is an ottoman), by the words alone: the most common type of that kind."""
        for row in np.flatnonzero(self.codes == NO_TYPE):
            match = self.resolve(rows[row].title) if rows[row].title else None
            if match is not None and match.supported:
                self.codes[row] = max(match.type_ids, key=lambda kind: self.types[kind].count)

    def _fit_vectors(self, encoder: TextEncoder, vectors: np.ndarray | None) -> None:
        """Each concept's name vector, and its centroid over products and type names."""
        names = [self.concepts[name].label for name in self.concept_names]
        labels = [kind.label for kind in self.types]
        encoded = encoder.encode(names + labels)
        self.name_vectors = encoded[: len(names)].astype(np.float32)
        label_vectors = encoded[len(names) :].astype(np.float32)
        self.type_vectors = label_vectors
        centroids = np.zeros_like(self.name_vectors)
        for row, name in enumerate(self.concept_names):
            ids = self.concepts[name].type_ids
            parts = [label_vectors[ids].sum(axis=0), self.name_vectors[row] * len(ids)]
            if vectors is not None:
                members = np.isin(self.codes, ids)
                if members.any():
                    parts.append(vectors[members].mean(axis=0) * len(ids))
            centroid = np.sum(parts, axis=0)
            centroids[row] = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        self.centroids = centroids

    @staticmethod
    def _concepts(types: list[ProductType]) -> dict[str, Concept]:
        members: dict[str, list[ProductType]] = defaultdict(list)
        for kind in types:
            for concept in kind.concepts:
                members[concept].append(kind)
        concepts = {}
        for name, kinds in members.items():
            accessory_count = sum(kind.count for kind in kinds if kind.accessory)
            accessory = accessory_count * 2 > sum(kind.count for kind in kinds)
            # A concept keeps to its kind (sofa covers filed under "Sofas" are no sofas), but its
            # own parts count: "legs for sofa" are legs.
            chosen = [
                kind
                for kind in kinds
                if kind.accessory == accessory or (kind.accessory and kind.head == name)
            ]
            own = [kind for kind in chosen if kind.head == name]
            concepts[name] = Concept(
                name=name,
                label=_concept_label(name, own),
                type_ids=sorted(kind.id for kind in chosen),
                accessory=accessory,
                count=sum(kind.count for kind in chosen),
            )
        return concepts

    def _index_words(self) -> None:
        """Which words the catalog's types use, for exact lookup and typo correction."""
        words: set[str] = set()
        for kind in self.types:
            words.update(kind.words)
        for name in self.concepts:
            words.update(name.split())
        self.words = frozenset(words)
        # "cellphone" for "cell phone", "sofabed" for "sofa-bed".
        self.joined: dict[str, list[str]] = {}
        for kind in self.types:
            tokens = _tokens(kind.key)
            for first, second in itertools.pairwise(tokens):
                if not _has_digit(first + second):
                    self.joined.setdefault(
                        singular(first.replace("-", "") + second), [first, singular(second)]
                    )
            for token in tokens:
                if "-" in token and not _has_digit(token):
                    self.joined.setdefault(singular(token.replace("-", "")), [singular(token)])
        frequency: Counter[str] = Counter()
        for kind in self.types:
            for word in kind.words:
                frequency[word] += kind.count
        # Most used first: a typo as near to "basket" as to "base" means basket.
        self._choices = sorted(
            (word for word in self.words | set(self.joined) if len(word) >= 3),
            key=lambda word: (-frequency[word], word),
        )
        self.concept_rows = {name: row for row, name in enumerate(self.concept_names)}
        broader: dict[str, set[str]] = defaultdict(set)
        for kind in self.types:
            if not kind.accessory:
                broader[kind.head].update(kind.concepts)
        # An accessory also answers to what it is for: an iPhone case is a phone case.
        self._target_words = [
            set(kind.accessory_of.split()) | broader[kind.accessory_of] if kind.accessory_of else set()
            for kind in self.types
        ]
        self._word_types: dict[str, list[int]] = defaultdict(list)
        for kind in self.types:
            for word in kind.words:
                self._word_types[word].append(kind.id)

    # -- resolving --------------------------------------------------------

    def resolve(
        self,
        phrase: str,
        vector: np.ndarray | None = None,
        encoder: TextEncoder | None = None,
        synonyms: Synonyms | None = None,
    ) -> TypeMatch | None:
        """The catalog types ``phrase`` asks for, or ``None`` when it names no product type.

        :param vector: the phrase's unit vector, when the caller has encoded it
            already; otherwise ``encoder`` encodes it, only when words alone do
            not settle the concept.
        :param synonyms: shoppers' words for types, for the words typo correction
            finds ("bookself" -> "bookshelf" -> bookcase); the caller rewrites the
            phrase as typed.
        """
        words, corrected = self._words(phrase)
        if corrected and synonyms is not None:
            meant = synonyms.rewrite(" ".join(words), self.uses)
            words = [singular(token) for token in _tokens(meant)]
        method = "typo" if corrected else "exact"
        found = self._lexical(words)
        if found is not None:
            concept, modifiers = found
            rivals = self._rivals(concept, modifiers)
            if rivals:
                query = self._vector(phrase, vector, encoder)
                if query is not None:
                    voted = self._neighbour_vote(query)
                    concept = (
                        voted[0]
                        if voted is not None and voted[0] in (concept, *rivals)
                        else max([concept, *rivals], key=lambda name: self._score(name, query))
                    )
            return self._match(concept, modifiers, 0.9 if corrected else 1.0, method)
        # What follows "for" is whom or what it is for ("something nice for my mum"), not the product.
        named = words[: words.index("for")] if "for" in words else words
        content = [
            word for word in named if word not in QUERY_WORDS and not _has_digit(word) and len(word) > 1
        ]
        if not content:
            return None
        # "do you have fridges?" is about "fridges": the courtesy around it would blur the vector.
        if content != words:
            phrase, vector = " ".join(content), None
        query = self._vector(phrase, vector, encoder)
        scores = None if query is None else self._scores(query)
        if scores is not None and scores.max() >= SYNONYM_COSINE:
            best = int(np.argmax(scores))
            return self._match(self.concept_names[best], [], round(float(scores[best]), 3), "embedding")
        return self._unsupported_or_none(phrase, content, query, scores)

    def _unsupported_or_none(
        self, phrase: str, content: list[str], query: np.ndarray | None, scores: np.ndarray | None
    ) -> TypeMatch | None:
        """An empty match naming the closest concepts when the phrase names a product; else ``None``."""
        modifier_concepts = self._concepts_using(content)
        offered = [name for name in modifier_concepts if self._offered(name)] or modifier_concepts
        if query is None or scores is None:
            return self._unsupported(phrase, offered[:CLOSEST], 0.5) if offered else None
        best = float(scores.max())
        if offered:
            # "tv", "laptop": the catalog has things for it ("laptop stand"), not it.
            return self._unsupported(phrase, self._types_using(content)[:CLOSEST], best)
        assert self.type_vectors is not None
        type_scores = self.type_vectors @ query
        nearest = int(np.argmax(type_scores))
        if type_scores[nearest] >= SYNONYM_COSINE:
            # "nightstand" is no concept's name but near one type's: bedside table.
            kind = self.types[nearest]
            return self._match(
                kind.head, list(kind.words), round(float(type_scores[nearest]), 3), "embedding"
            )
        voted = self._neighbour_vote(query)
        if voted is not None:
            return self._match(voted[0], [], round(voted[1], 3), "neighbours")
        ordinary = any(word in self.dictionary for word in content)
        if best >= PRODUCT_COSINE or (ordinary and best >= WORD_COSINE):
            rows = [row for row in np.argsort(-scores) if self._offered(self.concept_names[row])]
            return self._unsupported(phrase, [self.concept_names[row] for row in rows[:CLOSEST]], best)
        return None

    def _vector(
        self, phrase: str, vector: np.ndarray | None, encoder: TextEncoder | None
    ) -> np.ndarray | None:
        if self.centroids is None:
            return None
        if vector is None:
            if encoder is None:
                return None
            vector = encoder.encode([phrase])[0]
        return np.asarray(vector, dtype=np.float32).reshape(-1)

    def _neighbour_vote(self, query: np.ndarray) -> tuple[str, float] | None:
        """The concept most of the query's nearest products are of, and the nearest one's cosine,
        when they agree enough (``NEIGHBOUR_SHARE``) and are near enough (``NEIGHBOUR_COSINE``)."""
        if self.product_vectors is None or not len(self.product_vectors):
            return None
        similarity = self.product_vectors @ query
        count = min(NEIGHBOURS, len(similarity))
        nearest = np.argpartition(-similarity, count - 1)[:count]
        heads = Counter(self.types[code].head for code in self.codes[nearest].tolist() if code != NO_TYPE)
        if not heads:
            return None
        head, votes = heads.most_common(1)[0]
        closeness = float(similarity[nearest].max())
        if votes < NEIGHBOUR_SHARE * count or closeness < NEIGHBOUR_COSINE or head not in self.concepts:
            return None
        return head, closeness

    def _scores(self, query: np.ndarray) -> np.ndarray:
        """Each concept's similarity to the query: the nearer of its name and its centroid."""
        assert self.name_vectors is not None
        assert self.centroids is not None
        return np.maximum(self.name_vectors @ query, self.centroids @ query)

    def _score(self, concept: str, query: np.ndarray) -> float:
        assert self.name_vectors is not None
        assert self.centroids is not None
        row = self.concept_rows[concept]
        return float(max(self.name_vectors[row] @ query, self.centroids[row] @ query))

    def _words(self, phrase: str) -> tuple[list[str], bool]:
        """The phrase's words, singular, typos corrected against the catalog's type words."""
        words: list[str] = []
        corrected = False
        for token in _tokens(normalise(phrase)):
            word = singular(token)
            if word in self.joined and word not in self.words:
                words.extend(self.joined[word])
                continue
            if word not in self.words and token not in self.words and token not in QUERY_WORDS:
                fixed = self._correct(token)
                if fixed is not None:
                    corrected = True
                    words.extend(self.joined.get(fixed, [fixed]))
                    continue
            words.append(word)
        return words, corrected

    def _correct(self, token: str) -> str | None:
        """The catalog type word ``token`` misspells; never for an ordinary word ("soft", "power")."""
        if token in self._corrections:
            return self._corrections[token]
        fixed = None
        if len(token) >= 3 and not _has_digit(token) and token not in self.dictionary:
            limit = 1 if len(token) <= 5 else 2
            # "stols" is one edit from "stool" once its plural "s" is gone.
            for form in dict.fromkeys((token, singular(token))):
                best = process.extractOne(form, self._choices, scorer=OSA.distance, score_cutoff=limit)
                if best is not None:
                    fixed = singular(best[0])
                    break
        self._corrections[token] = fixed
        return fixed

    def _lexical(self, words: list[str]) -> tuple[str, list[str]] | None:
        """The concept the phrase's head names, and its other type words (modifiers)."""
        if not words:
            return None
        end = len(words)
        for at, word in enumerate(words):
            if at > 0 and word in CUT_WORDS:
                end = at
                break
        of: list[str] = []
        # The "for" after a type word ("cover for sofa"), not the request's ("looking for a ...").
        at = next(
            (at for at in range(1, end) if words[at] == "for" and any(w in self.words for w in words[:at])),
            None,
        )
        if at is not None:
            of, end = words[at + 1 :], at
        last = words[end - 1]
        if last in self.dictionary and last not in self.words and last not in QUERY_WORDS:
            # "desk lamp", "cheap couch": the head is a word no type uses.
            return None
        found = self._rightmost_concept(words[:end])
        if found is None:
            found = self._rightmost_concept(words)
            of = []
        if found is None:
            return None
        concept, start = found
        modifiers = [word for word in words[:start] + of if word in self.words and word not in QUERY_WORDS]
        return concept, modifiers

    def _rightmost_concept(self, words: list[str]) -> tuple[str, int] | None:
        """The longest concept name ending rightmost in ``words``, and where it starts."""
        for end in range(len(words), 0, -1):
            for start in range(0, end):
                name = " ".join(words[start:end])
                counted = " ".join(word for word in words[start:end] if not _has_digit(word))
                if " of " in counted and counted in self.concepts:
                    return counted, start  # "chest of 3 drawers": concept names have no numbers
                if name in self.concepts:
                    return name, start
                hyphened = "-".join(words[start:end])
                if end - start > 1 and hyphened in self.concepts:
                    return hyphened, start
        return None

    def _overlap(self, kind: int, concept: str, wanted: set[str]) -> int:
        """How many of the phrase's modifiers a type carries in its own name or its target's."""
        own = set(self.types[kind].words) if self.types[kind].head == concept else set()
        return len(wanted & (own | self._target_words[kind]))

    def _rivals(self, concept: str, modifiers: list[str]) -> list[str]:
        """Other concepts whose types carry modifiers that none of ``concept``'s types do.

        "prepaid card": no card type says prepaid, but "prepaid minutes" and
        "prepaid phones" do; the embedding then picks among them.
        """
        wanted = self._wanted(concept, modifiers)
        if not wanted or any(
            self._overlap(kind, concept, wanted) for kind in self.concepts[concept].type_ids
        ):
            return []
        rivals = {self.types[kind].head for word in wanted for kind in self._word_types.get(word, [])}
        return sorted(name for name in rivals - {concept} if name in self.concepts)

    @staticmethod
    def _wanted(concept: str, modifiers: list[str]) -> set[str]:
        return {form for word in modifiers for form in _word_forms(word)} - set(concept.split())

    def _concepts_using(self, words: list[str]) -> list[str]:
        """Concepts of the types that use these words as modifiers, most products first."""
        counts: Counter[str] = Counter()
        for word in words:
            for kind in self._word_types.get(word, []):
                counts[self.types[kind].head] += self.types[kind].count
        return [name for name, _ in counts.most_common() if name in self.concepts]

    def _types_using(self, words: list[str]) -> list[str]:
        """The labels of the types that use these words as modifiers, most products first."""
        kinds = {kind for word in words for kind in self._word_types.get(word, [])}
        return [
            self.types[kind].label
            for kind in sorted(kinds, key=lambda kind: -self.types[kind].count)
            if self.types[kind].head not in words
        ]

    def _offered(self, concept: str) -> bool:
        """A concept worth naming as an alternative: a product type's head with enough products,
        not a category root ("furniture", "decor") that only broadens types."""
        return self.concepts[concept].count >= CLOSEST_MIN_PRODUCTS and concept in self._heads

    @functools.cached_property
    def _heads(self) -> frozenset[str]:
        return frozenset(kind.head for kind in self.types)

    def _match(self, concept: str, modifiers: list[str], confidence: float, method: str) -> TypeMatch:
        """The types of ``concept`` that carry the most of the phrase's modifiers."""
        info = self.concepts[concept]
        ids = info.type_ids
        wanted = self._wanted(concept, modifiers)
        label = info.label
        if wanted:
            overlap = {kind: self._overlap(kind, concept, wanted) for kind in ids}
            best = max(overlap.values())
            if best:
                ids = [kind for kind in ids if overlap[kind] == best]
                label = " / ".join(self.types[kind].label for kind in ids[:3])
        return TypeMatch(
            concept=concept,
            label=label,
            type_ids=tuple(ids),
            keys=tuple(self.types[kind].key for kind in ids),
            confidence=confidence,
            accessory=info.accessory,
            method=method,
        )

    @staticmethod
    def _unsupported(phrase: str, closest: list[str], confidence: float) -> TypeMatch:
        asked = normalise(phrase)
        return TypeMatch(
            concept=asked,
            label=asked,
            type_ids=(),
            keys=(),
            confidence=round(confidence, 3),
            accessory=False,
            method="unsupported",
            closest=tuple(closest),
        )

    def uses(self, phrase: str) -> int:
        """How many products are of a type whose name has ``phrase``'s words in a row (plurals
        folded): "tv bench" 20, "bookshelf" 2 (of "changing table/bookshelf"), "loveseat" 0."""
        wanted = " ".join(singular(token) for token in _tokens(normalise(phrase)))
        if not wanted:
            return 0
        return sum(
            kind.count
            for kind, name in zip(self.types, self._type_names, strict=True)
            if f" {wanted} " in name
        )

    @functools.cached_property
    def _type_names(self) -> tuple[str, ...]:
        return tuple(f" {' '.join(singular(token) for token in _tokens(kind.key))} " for kind in self.types)

    # -- products ---------------------------------------------------------

    def product_mask(self, match: TypeMatch) -> np.ndarray:
        """Which products (by row) are of one of the match's types."""
        return np.isin(self.codes, np.asarray(match.type_ids, dtype=np.int32))

    def products_of(self, keys: Iterable[str]) -> np.ndarray:
        """Which products (by row) are of one of the types with these keys."""
        wanted = set(keys)
        ids = [kind.id for kind in self.types if kind.key in wanted]
        return np.isin(self.codes, np.asarray(ids, dtype=np.int32))

    def accessories_for(self, concept: str) -> list[int]:
        """The ids of accessory types made for ``concept`` ("cover for 3-seat sofa" for sofa)."""
        return [kind.id for kind in self.types if kind.accessory_of == concept]

    # -- storage ----------------------------------------------------------

    @staticmethod
    def stored_in(folder: Path) -> bool:
        """Whether ``folder`` (an index version) holds a saved vocabulary."""
        return (folder / "types.json").exists()

    def save(self, folder: Path) -> None:
        """Write ``types.json``, ``type_codes.npy`` and, when fitted, ``concept_vectors.npy`` and
        ``type_vectors.npy`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        document = {
            "format": FORMAT_VERSION,
            "types": [asdict(kind) for kind in self.types],
            "dictionary": sorted(self.dictionary),
        }
        (folder / "types.json").write_text(json.dumps(document, ensure_ascii=False))
        np.save(folder / "type_codes.npy", self.codes)
        if self.name_vectors is not None and self.centroids is not None and self.type_vectors is not None:
            np.save(folder / "concept_vectors.npy", np.stack([self.name_vectors, self.centroids]))
            np.save(folder / "type_vectors.npy", self.type_vectors)

    @classmethod
    def load(cls, folder: Path, product_vectors: np.ndarray | None = None) -> "TypeVocabulary":
        """The vocabulary ``save`` wrote into ``folder``, with the index's ``product_vectors``."""
        folder = Path(folder)
        document = json.loads((folder / "types.json").read_text())
        if document.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{folder / 'types.json'} has format {document.get('format')}, not {FORMAT_VERSION}"
            )
        types = [
            ProductType(
                **{
                    **kind,
                    "concepts": tuple(kind["concepts"]),
                    "words": tuple(kind["words"]),
                }
            )
            for kind in document["types"]
        ]
        name_vectors = centroids = type_vectors = None
        if (folder / "concept_vectors.npy").exists():
            name_vectors, centroids = np.load(folder / "concept_vectors.npy")
            type_vectors = np.load(folder / "type_vectors.npy")
        codes = np.load(folder / "type_codes.npy")
        return cls(
            types, codes, document["dictionary"], name_vectors, centroids, type_vectors, product_vectors
        )


# ---------------------------------------------------------------------------
# Build helpers


def _row_type(row: TypeRow) -> str:
    """The row's type text, or the leaf of its first category path."""
    if row.type and row.type.strip():
        return normalise(row.type)
    for path in row.categories:
        segments = _path_segments(path)
        if segments:
            return segments[-1]
    return ""


def _label(texts: list[str], keys: list[str], key: str) -> str:
    """How the catalog writes the type most often."""
    written = Counter(text for text, other in zip(texts, keys, strict=True) if other == key)
    return written.most_common(1)[0][0]


def _concept_label(name: str, own: list[ProductType]) -> str:
    """A concept's display name: the words its own types all end with ("chaise longue" for longue)."""
    last = name.split()[-1]
    cores = [
        [singular(word) for word in _split_phrase(kind.key).core if not _has_digit(word)] for kind in own
    ]
    # Each core up to the concept's own word: "chaise longue section" -> "chaise longue".
    cores = [core[: len(core) - core[::-1].index(last)] for core in cores if last in core]
    words = name.split()
    if "of" in words or "and" in words:
        return " ".join([*words[:-1], plural(words[-1])])
    if not cores:
        return name
    shortest = min(len(core) for core in cores)
    length = 1
    while length < shortest and len({tuple(core[-length - 1 :]) for core in cores}) == 1:
        length += 1
    suffix = cores[0][-length:]
    if suffix[-len(words) :] == words:
        return " ".join(suffix)
    return " ".join([*suffix[:-1], name]) if suffix[-1] == words[-1] else name


def _accessory_heads(
    heads: dict[str, str],
    phrases: dict[str, _Phrase],
    rules: _HeadRules,
    counts: Counter[str],
    concepts: set[str],
) -> set[str]:
    """Heads the catalog mostly sells as "X for <another type>", in several types: cover, not table."""
    made_for: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for key, head in heads.items():
        total[head] += counts[key]
        phrase = phrases[key]
        if phrase.of and rules.head(phrase.of) in concepts and rules.head(phrase.of) != head:
            made_for[head] += counts[key]
            kinds[head] += 1
    return {head for head, count in made_for.items() if count * 2 > total[head] and kinds[head] >= 2}


def _accessory_target(
    phrase: _Phrase, head: str, rules: _HeadRules, concepts: set[str], accessory_heads: set[str]
) -> str | None:
    """What a type is for, by its words: "cover for 3-seat sofa" and "chair cover" -> the sofa, the chair."""
    if phrase.of:
        target = rules.head(phrase.of)
    elif head in accessory_heads and len(phrase.core) > 1:
        target = rules.head(phrase.core[:-1])
    else:
        return None
    return target if target in concepts and target != head else None


def _before_of(words: list[str]) -> list[str]:
    return words[: words.index("of")] if "of" in words else words


def _read_paths(
    row: TypeRow,
    key: str,
    head: str,
    rules: _HeadRules,
    concepts: set[str],
    broader: set[str],
    accessory_of: Counter[str],
) -> None:
    """What the row's category paths say of its type: broader concepts, or what it is an accessory of.

    Segments above the one that names the type are broader concepts ("Cell
    Phones" above "iPhone"), up to a segment "X Accessories", which makes the
    type an accessory of X (or of the nearest concept above it).
    """
    for path in row.categories:
        segments = _path_segments(path)
        heads = [rules.of_phrase(_split_phrase(segment)) for segment in segments]
        named = [at for at, segment in enumerate(segments) if _type_key(segment) == key or heads[at] == head]
        accessory = [at for at, segment in enumerate(segments) if ACCESSORY_SEGMENT.match(segment)]
        if not accessory:
            if named:
                broader.update(heads[above] for above in range(named[-1]))
            continue
        # Walking up from the nearest "X Accessories": X, then what each segment above names.
        targets = []
        for above in range(accessory[-1], -1, -1):
            match = ACCESSORY_SEGMENT.match(segments[above])
            if match is None:
                targets.append(heads[above])
            elif match.group("of"):
                targets.append(rules.head(_split_phrase(match.group("of")).core))
        target = next((target for target in targets if target in concepts and target != head), None)
        accessory_of[target or ""] += 1
        if named and named[-1] > accessory[-1]:
            broader.update(heads[above] for above in range(accessory[-1] + 1, named[-1]))
        broader.add("accessory")


def _tokenizer_words(encoder: TextEncoder | None) -> list[str]:
    """Whole words of the encoder's WordPiece vocabulary: ordinary English, never a typo."""
    path = getattr(encoder, "model_path", None)
    vocab = Path(path) / "vocab.txt" if path is not None else None
    if vocab is None or not vocab.exists():
        return []
    return [line for line in vocab.read_text().split() if line.isalpha() and len(line) >= 3]
