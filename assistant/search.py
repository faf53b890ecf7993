"""Product search: the one path behind a chat turn, ``/api/search/`` and ``search_batch``.

A search reads, top to bottom: the slots become ``Constraints`` (the slot table
of ``catalog.retrieval.constraints``), the product type is resolved against the
catalog's own types, all of it against one snapshot of the live index; fused
retrieval proposes candidates under the hard filters; a ``sort`` or the ranker
plugin orders them (the retriever's ids, vectors and scores go straight to the
plugins); the database confirms the products still qualify; and every product
gets its explanation here, in one place. Slots that cannot be applied (a
feature no product of the type states, a measure the catalog does not record)
are dropped with a note the reply reads out, never silently.
"""

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import prefetch_related_objects

from catalog.indexing import live_index
from catalog.models import Product, product_prefetches
from catalog.retrieval.constraints import (
    BED_SIZES,
    NO_CONSTRAINTS,
    SIZED_AS_BEDS,
    SORT_PHRASES,
    Constraints,
    constraints_from_slots,
)
from catalog.retrieval.encoder import Encoder, get_encoder
from catalog.retrieval.filters import FilterTable
from catalog.retrieval.keyword_slots import measures_in_text
from catalog.retrieval.product_types import QUERY_WORDS, TypeMatch, plural, singular
from catalog.retrieval.retriever import Hit, Retriever
from catalog.retrieval.store import IndexVersion
from catalog.retrieval.synonyms import SHIPPED as SHIPPED_SYNONYMS
from catalog.retrieval.synonyms import Synonyms
from catalog.search import matching_products
from recsys_plugins import ranking
from recsys_plugins.rankers.base import Candidates, ProductFacts
from recsys_plugins.rankers.hybrid import RETRIEVAL_REASON

CLOSEST_REASON = "close to what you asked for"
RETRIEVAL_ORDER = "fused-retrieval"
"""What ordered the products when no ranker is enabled, stored with their feedback."""
RETRY_FACTOR = 3
"""How many more candidates to fetch when the database turns some down."""
QUERY_VECTORS_CACHED = 1024
SORT_KEYS = {
    "price_asc": ("price", False),
    "price_desc": ("price", True),
    "rating_desc": ("rating", True),
    "popularity_desc": ("popularity", True),
}
"""``sort`` value -> (the filter table's column, descending)."""


@dataclass
class Found:
    """Products for a search with their explanations, and what the search made of the request."""

    products: list[tuple[Product, str]] = field(default_factory=list)
    constraints: Constraints = NO_CONSTRAINTS
    asked_type: TypeMatch | None = None
    """The catalog type the shopper's product phrase resolved to (``types`` empty: not sold here)."""
    unapplied: list[str] = field(default_factory=list)
    """What the search could not apply, as the reply says it."""
    ranker: str = RETRIEVAL_ORDER
    alternative: str = ""
    """When nothing of the asked type qualifies: an accessory type of it that does ("cover for
    3-seat sofa"), which the shopper may have meant."""
    recognised: bool = True
    """Whether the request named a catalog type or words some product has ("hmm" does not)."""
    exact: int | None = None
    """When the rest of a kind filled a short page of the asked sub-type ("bed frame" then other
    beds): how many products lead it that are of the sub-type itself."""
    kind: str = ""
    """The kind the page was filled from ("bed"), when ``exact`` is set."""
    experiment: int | None = None
    """The ranker experiment the products were ordered in, if any."""
    arms: list[str] = field(default_factory=list)
    """In an experiment: each product's arm, "a" or "b" (of a split: all the session's)."""


def find_products(
    query: str,
    slots: Mapping[str, Any],
    k: int,
    *,
    skip: Sequence[str] = (),
    ranker: str | None = None,
    shopper: ranking.Shopper | None = None,
    filters: Mapping[str, Any] | None = None,
) -> Found:
    """The ``k`` best active products for ``query`` under the constraints of ``slots`` (a frame's
    slots or a conversation's active ones), leaving out the SKUs in ``skip``.

    ``filters`` (``Constraints`` fields) override what the slots say; ``ranker`` (default: the
    shopper's, see ``Shopper.ranker``; a running experiment's arm or interleaving) orders the
    results for the ``shopper`` (default: an anonymous one).
    Raises ``UnknownRanker`` for a ranker that is not installed and ``ValueError`` for a price
    floor above the ceiling.
    """
    shopper = shopper or ranking.Shopper()
    experiment = shopper.experiment if ranker is None else None
    interleaving = shopper.interleaving if experiment else None
    ranker = ranker or shopper.ranker
    ranking.require_installed(ranker)
    snapshot = live_index().get()
    if snapshot is None or not (query.strip() or slots):
        return Found()
    if snapshot.types is not None:  # "couch" is what this catalog calls a sofa
        query, said = synonyms().rewrite(query, snapshot.types.uses), query
        category = slots.get("category")
        if category and query != said:
            category = synonyms().rewrite(category, snapshot.types.uses)
            # "stand" of "tv stand": part of a phrase now said the catalog's way, which decides.
            slots = {name: value for name, value in slots.items() if name != "category"}
            if category.lower() in query.lower():
                slots["category"] = category
    encoder = get_encoder(settings.AISLE_DEVICE)
    vector = query_vector(encoder, query) if query.strip() else None
    # A category the API's caller chose stands for the product type the words may name.
    asked = None if filters and filters.get("categories") else _asked_type(snapshot, slots, query, vector)
    if asked is not None and not asked.supported:
        return Found(asked_type=asked)
    skipped = Product.objects.filter(sku__in=skip).values_list("pk", flat=True) if skip else ()
    constraints = constraints_from_slots(
        slots,
        types=asked.keys if asked else (),
        rates=settings.AISLE_CURRENCY_RATES,
        exclude_ids=tuple(skipped),
    )
    if filters:
        constraints = replace(constraints, **filters)
    constraints = _bed_size(constraints, slots.get("size"), asked)
    constraints, unapplied = _applicable(snapshot, constraints, asked)
    # The API's explicit filters are exact: nothing of a broader type fills their page.
    broader = _broader(snapshot, constraints, asked) if asked is not None and not filters else None
    if broader is not None and not _any_allowed(snapshot, constraints):
        constraints, broader = broader, None
    elif broader is not None and _count(snapshot, replace(NO_CONSTRAINTS, types=constraints.types)) >= k:
        broader = None  # the sub-type is well stocked: what it lacks is the dialogue's to relax
    sort = slots.get("sort", "")
    order = SORT_KEYS.get(sort)
    retriever = Retriever(
        snapshot, encoder, fusion=settings.AISLE_FUSION, weights=settings.AISLE_FUSION_WEIGHTS
    )
    context = None
    if ranker is not None and not order:
        context = ranking.context_for(vector, constraints.as_dict(), shopper, snapshot)

    def page(met: Constraints, limit: int) -> list[tuple[_Confirmed, Constraints, str, str]]:
        """``limit`` products meeting ``met``, in the asked order or the ranker's, explained, with
        the experiment arm that placed each."""
        if context is None:
            return [(hit, met, "", "") for hit in _confirmed(retriever, query, met, limit, vector, order)]
        pool = _confirmed(retriever, query, met, limit * settings.AISLE_RANKING_POOL, vector, None)
        by_id = {hit.product.pk: hit for hit in pool}
        positions = np.asarray([hit.hit.position for hit in pool], dtype=np.int64)
        candidates = Candidates(
            np.asarray(list(by_id), dtype=np.int64),
            snapshot.vectors.vectors[positions],
            np.asarray([hit.hit.score for hit in pool], dtype=np.float32),
            ProductFacts(**snapshot.facts(positions)),
        )
        seed = f"{shopper.session_key}:{query}:{len(met.exclude_ids)}"
        answered, drafted = ranking.order(ranker, candidates, context, limit, shopper, interleaving, seed)
        if answered is None:  # every ranker's plugin failed (logged): the retrieval order
            return [(hit, met, "", "") for hit in pool[:limit]]
        rankers_used.append(answered)
        return [(by_id[item.product_id], met, item.explanation, arm) for item, arm in drafted]

    def then(looser: Constraints) -> None:
        """Fill the rest of the page from ``looser``."""
        if len(explained) < k:
            taken = (*looser.exclude_ids, *(hit.product.pk for hit, *_ in explained))
            explained.extend(page(replace(looser, exclude_ids=taken), k - len(explained)))

    rankers_used: list[str] = []
    explained = page(constraints, k)
    used = rankers_used[0] if rankers_used else RETRIEVAL_ORDER
    exact = None
    if broader is not None and not order:  # the asked sub-type, then its kind
        exact = len(explained)
        then(broader)
        if len(explained) == exact:
            exact = None
    # Only the products shown need their categories and attributes (the pool is k times bigger).
    prefetch_related_objects([hit.product for hit, *_ in explained], *product_prefetches())
    products = [
        (hit.product, explain(hit, met, asked, sort, because, query)) for hit, met, because, _ in explained
    ]
    alternative = _accessory_instead(snapshot, constraints, asked) if not products and asked else ""
    recognised = (
        asked is not None
        or any(hit.hit.lexical for hit, *_ in explained)
        or any(snapshot.lexical.knows(word) for word in query.split())
    )
    kind = snapshot.types.concepts[asked.concept].label if exact is not None else ""
    in_experiment = experiment if context is not None else None
    return Found(
        products,
        constraints,
        asked,
        unapplied,
        used,
        alternative,
        recognised,
        exact,
        kind,
        in_experiment.pk if in_experiment else None,
        [arm for *_, arm in explained] if in_experiment else [],
    )


def kind_of(text: str) -> str | None:
    """The product type ``text`` names, as the catalog calls it ("couch" -> "sofa"), or ``None``."""
    snapshot = live_index().get()
    if snapshot is None or snapshot.types is None or not text.strip():
        return None
    # What follows "with" is what the product has: "with adjustable armrests" names no kind.
    text = re.split(r"\b(?:with|without|that has|that have|which has|which have)\b", text.lower())[0]
    if not re.search(r"[a-z]{3,}", text):
        return None
    text = synonyms().rewrite(text, snapshot.types.uses)
    asked = _asked_type(snapshot, {}, text, query_vector(get_encoder(settings.AISLE_DEVICE), text))
    return asked.label if asked is not None and asked.supported else None


def kinds_on_offer(limit: int) -> list[str]:
    """The catalog's most stocked kinds of product, most first ("sofa", "phone"); accessories
    ("case", "cover") are what a shopper asks for once they know the product."""
    snapshot = live_index().get()
    if snapshot is None or snapshot.types is None:
        return []
    vocabulary = snapshot.types
    heads = {kind.head for kind in vocabulary.types if not kind.accessory}
    offered = [
        concept for name, concept in vocabulary.concepts.items() if name in heads and not concept.accessory
    ]
    offered.sort(key=lambda concept: (-concept.count, concept.label))
    return [concept.label for concept in offered[:limit]]


def _accessory_instead(snapshot: IndexVersion, constraints: Constraints, asked: TypeMatch) -> str:
    """The most stocked accessory type of the asked one that meets the other constraints."""
    vocabulary = snapshot.types
    if vocabulary is None or not asked.supported:
        return ""
    asked_words = set(asked.label.lower().split())
    candidates = []
    for type_id in vocabulary.accessories_for(asked.concept):
        kind = vocabulary.types[type_id]
        allowed = snapshot.allowed(replace(constraints, types=(kind.key,)))
        count = int(allowed.sum()) if allowed is not None else kind.count
        if count:  # of the asked kind ("3-seat") first, then the most products
            candidates.append((len(asked_words & set(kind.key.split())), count, kind.label))
    return max(candidates)[2] if candidates else ""


@functools.cache
def synonyms() -> Synonyms:
    """The shipped synonym list and the shop's own (``AISLE_SYNONYMS_FILE``), read once."""
    extra = [Path(settings.AISLE_SYNONYMS_FILE)] if settings.AISLE_SYNONYMS_FILE else []
    return Synonyms.read([SHIPPED_SYNONYMS, *extra])


@functools.lru_cache(maxsize=QUERY_VECTORS_CACHED)
def query_vector(encoder: Encoder, text: str) -> np.ndarray:
    """``text``'s unit vector. Cached: a conversation's "cheaper" and "more" search its query
    again, and encoding is most of a turn."""
    vector = encoder.encode([text])[0]
    vector.flags.writeable = False
    return vector


def _asked_type(
    snapshot: IndexVersion, slots: Mapping[str, Any], query: str, vector: np.ndarray | None
) -> TypeMatch | None:
    """The catalog types the shopper asks for, from the parser's ``category`` phrase and the
    whole query (a phrase the model corrected, "lmap" -> "lamp", is the model's to decide)."""
    if snapshot.types is None:
        return None
    encoder = get_encoder(settings.AISLE_DEVICE)
    # A request, not a product text: "similar" searches with a description, whose nouns are many.
    known = synonyms()
    whole = snapshot.types.resolve(query, vector, encoder, known) if 0 < len(query.split()) <= 12 else None
    said = slots.get("category")
    named = snapshot.types.resolve(said, None, encoder, known) if said else None
    # The whole query narrows the parser's phrase ("3-seat" of "grey 3-seat sofa") and, where the
    # phrase is its own words, knows their head ("desk lamp" is a lamp, "case for a phone" a case).
    if (
        whole is not None
        and whole.supported
        and (named is None or named.concept == whole.concept or said.lower() in query.lower())
    ):
        return whole
    asked = named or whole
    if (
        asked is not None
        and not asked.supported
        and snapshot.lexical.containing(asked.label.split()[-1]).any()
    ):
        return None  # products mention it ("seat"): not a type of its own, but no "we don't sell" either
    return asked


def _broader(snapshot: IndexVersion, constraints: Constraints, asked: TypeMatch) -> Constraints | None:
    """``constraints`` with every type of the asked kind, when the shopper narrowed it to some
    ("iphone 7 case", "3-seat sofa"); ``None`` when they did not. A taxonomy may file such
    products under a broader type ("cell phone cases"), so the rest of the kind fills the page."""
    vocabulary = snapshot.types
    if vocabulary is None or not asked.supported:
        return None
    kinds = vocabulary.concepts[asked.concept].type_ids
    if len(kinds) == len(asked.type_ids):
        return None
    return replace(constraints, types=tuple(vocabulary.types[kind].key for kind in kinds))


def _any_allowed(snapshot: IndexVersion, constraints: Constraints) -> bool:
    return _count(snapshot, constraints) > 0


def _count(snapshot: IndexVersion, constraints: Constraints) -> int:
    allowed = snapshot.allowed(constraints)
    return len(snapshot) if allowed is None else int(allowed.sum())


def _bed_size(constraints: Constraints, size: Any, asked: TypeMatch | None) -> Constraints:
    """A bed's or mattress's size word ("double", "king size") as the width it means."""
    said = re.search(r"\b(single|double|queen|king)\b", str(size or "").lower())
    if said is None or asked is None or asked.concept not in SIZED_AS_BEDS:
        return constraints
    return replace(
        constraints,
        features=tuple(feature for feature in constraints.features if feature != size),
        measures=(*constraints.measures, BED_SIZES[said.group(1)]),
    )


def _applicable(
    snapshot: IndexVersion, constraints: Constraints, asked: TypeMatch | None
) -> tuple[Constraints, list[str]]:
    """``constraints`` less the features and measures that no product of the asked type (or of
    the catalog) records, each named in a note: "no data" must not read as "no match"."""
    scope = snapshot.allowed(replace(NO_CONSTRAINTS, types=constraints.types))
    kind = asked.label.lower() if asked else "product"
    notes = []
    features = []
    for feature in constraints.features:
        having = snapshot.lexical.containing(feature)
        if (having & scope).any() if scope is not None else having.any():
            features.append(feature)
        else:
            notes.append(f"no {kind} here mentions “{feature}”, so I could not filter on it")
    measures = []
    for measure in constraints.measures:
        if snapshot.filters.has_measure(measure.name, scope):
            measures.append(measure)
        else:
            notes.append(f"the catalog does not record the {measure.name} of {plural(kind)}")
    return replace(constraints, features=tuple(features), measures=tuple(measures)), notes


@dataclass(frozen=True)
class _Confirmed:
    product: Product
    hit: Hit


def _confirmed(
    retriever: Retriever,
    query: str,
    constraints: Constraints,
    k: int,
    vector: np.ndarray | None,
    order: tuple[str, bool] | None,
) -> list[_Confirmed]:
    """The ``k`` best hits whose products the database confirms still active and qualifying
    (the index version may predate an edit), fetching more when it turns some down."""
    wanted = k
    while True:
        if order:
            hits = _sorted_hits(retriever, query, constraints, wanted, vector, order)
        else:
            hits = retriever.retrieve(query, constraints, wanted, query_vector=vector)
        products = matching_products(constraints).in_bulk([hit.product_id for hit in hits])
        found = [_Confirmed(products[hit.product_id], hit) for hit in hits if hit.product_id in products]
        # Fewer hits than asked for means retrieval has nothing more to give.
        if len(found) >= k or len(hits) < wanted or wanted >= k * RETRY_FACTOR**2:
            return found[:k]
        wanted *= RETRY_FACTOR


def _sorted_hits(
    retriever: Retriever,
    query: str,
    constraints: Constraints,
    k: int,
    vector: np.ndarray | None,
    order: tuple[str, bool],
) -> list[Hit]:
    """Hits in the asked order: over every product of the asked type that qualifies ("the
    cheapest sofa" is the cheapest of all sofas), else over the relevant retrieved ones."""
    index = retriever.index
    if constraints.types:
        allowed = index.allowed(constraints)
        positions = np.flatnonzero(allowed) if allowed is not None else np.arange(len(index))
    else:
        hits = retriever.retrieve(query, constraints, retriever.depth, query_vector=vector)
        positions = index.positions_of([hit.product_id for hit in hits])
    column, descending = order
    table = index.filters
    groups = np.zeros(len(positions))
    if column == "price":
        values, groups = _comparable_prices(table, positions, constraints)
    else:
        values = table.numbers[column][positions]
    values = np.where(np.isnan(values), -np.inf if descending else np.inf, values)
    ranked = positions[np.lexsort((-values if descending else values, groups))[:k]]
    return [Hit(int(index.ids[p]), 0.0, None, None, None, None, int(p)) for p in ranked]


def _comparable_prices(
    table: FilterTable, positions: np.ndarray, constraints: Constraints
) -> tuple[np.ndarray, np.ndarray]:
    """Prices that can be sorted together: in USD where rates convert every currency present;
    otherwise as they are, grouped by currency (most products first), never compared across."""
    codes = table.currency_codes[positions]
    rates = [constraints.rate(code) for code in table.currencies]
    if all(rates[code] is not None for code in np.unique(codes)):
        usd = np.array([rate or 0.0 for rate in rates])
        return table.prices[positions] * usd[codes], np.zeros(len(positions))
    sizes = np.bincount(codes, minlength=len(rates))
    return table.prices[positions], -sizes[codes].astype(np.float64)


def explain(
    found: _Confirmed,
    constraints: Constraints,
    asked: TypeMatch | None,
    sort: str,
    ranked_because: str = "",
    query: str = "",
) -> str:
    """Why a product is listed, in plain words: the asked-for type and properties it has, the
    order, then the ranker's reason and which of the shopper's words its title has."""
    product = found.product
    attributes = product.attribute_dict()
    reasons = [str(attributes.get("type") or asked.label)] if asked and asked.supported else []
    reasons += [
        value
        for key, asked_values in (("color", constraints.colors), ("material", constraints.materials))
        for value in _as_list(attributes.get(key))
        if value.lower() in asked_values
    ]
    if constraints.brands and product.brand:
        reasons.append(product.brand.name)
    reasons += [f"mentions “{feature}”" for feature in constraints.features]
    stated = measures_in_text(product.title) | attributes
    reasons += [f"{m.name} {stated.get(m.name, '?')} {m.unit}".strip() for m in constraints.measures]
    bounds = constraints.price_bounds_in(product.currency)
    currency = constraints.currency or product.currency
    converted = bounds if constraints.currency not in (None, product.currency) else None
    if constraints.price_max is not None:
        reasons.append(f"under {constraints.price_max:,.0f} {currency}{_converted(converted, 1, product)}")
    if constraints.price_min is not None:
        reasons.append(f"over {constraints.price_min:,.0f} {currency}{_converted(converted, 0, product)}")
    in_title = _word_forms(product.title)
    said = [in_title[word] for word in _content_words(query) if word in in_title]  # as the title has it
    said = [word for word in said if word.lower() not in " ".join(reasons).lower()]
    matched = f"its name has “{'”, “'.join(said[:3])}”" if said else ""
    # Retrieval's share of a ranking is what the words say of this product, not a slogan; "close
    # to what you asked for" says nothing the type and the constraints have not said.
    parts = [matched if part == RETRIEVAL_REASON else part for part in ranked_because.split("; ")]
    parts = [part for part in parts if part and not (part == CLOSEST_REASON and (reasons or matched))]
    how = [SORT_PHRASES[sort]] if sort in SORT_PHRASES else list(dict.fromkeys(parts))
    if not how and (matched or not reasons):
        how.append(matched or CLOSEST_REASON)
    summary = "; ".join(part for part in (", ".join(reasons), ", ".join(how)) if part)
    return summary[:1].upper() + summary[1:]


def _content_words(text: str) -> list[str]:
    """The words of ``text`` that say something about a product, singular, lower-case."""
    return list(_word_forms(text))


def _word_forms(text: str) -> dict[str, str]:
    """The words of ``text`` that say something about a product: singular and lower-case, each
    with the first form ``text`` writes it in ("frekven": "FREKVENS")."""
    forms: dict[str, str] = {}
    for word in re.findall(r"[a-zà-ÿ0-9][a-zà-ÿ0-9-]+", text, flags=re.IGNORECASE):
        if word.lower() not in QUERY_WORDS:
            forms.setdefault(singular(word.lower()), word)
    return forms


def _converted(bounds: tuple[float | None, float | None] | None, which: int, product: Product) -> str:
    """ " (1,000 SAR)": the bound in the product's currency, when it was said in another."""
    if not bounds or bounds[which] is None:
        return ""
    return f" ({bounds[which]:,.0f} {product.currency})"


def _as_list(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(item) for item in values if item not in (None, "")]
