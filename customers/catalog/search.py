"""Candidates: the catalog items that meet a customer's hard rules, ranked for the text of a request.

The customer's facts are one query (`facts`, with the tags of the items they rated up); the ranking is one statement
on PostgreSQL (`ranked_sql`, which customers/catalog/turn.py runs beside the names to avoid, found by the same
`matched_sql` over the whole catalog), a query and a pass in Python on SQLite (`ranked_simple`).

Hard rules (`eligible`, one ORM condition shared by both databases, so SQLite filters exactly as PostgreSQL does;
`judged` marks the items it leaves out; the recording of a turn's cards applies it again, with `facts` read again, to
the items' current rows: customers/catalog/recommendations.py `insert`, so a rule added here binds there too):
active; no allergen of the customer's (`allergen_mask & theirs = 0`, where the item's mask holds its declared
allergens, the ones its own text mentions, and every allergen when a food item's are unknown: so an item of unknown
allergens meets a customer with no allergy and no other); every diet of theirs when the item is food
(`diet_mask & theirs = theirs`); price at most the remaining monthly limit, in the customer's currency (an item in
another currency is not eligible; an item without a price charges nothing and passes); not rated down by them; and a
restaurant with active dishes (their `venue`) only when at least one of them meets all of these too (`_served`; a
candidate carries those dishes, `passing_dishes`).
What the customer stated in the session (`bound`, customers/catalog/stated.py) adds to them: its allergens and diets
join the profile's masks; the price at most the stated cap; none of the excluded tags among the item's keywords (whole
words); the kind one of those asked for (a restaurant's dishes are judged by every rule but the kind).

Ranking, among the eligible items that match something (the request's words, the customer's preference tags, the tags
of items they liked, an area the request names, or their home area when a request that binds names nothing; nothing
matched means no candidates), the sum of:
  3 x the share of the request's words the item matches (words match as prefixes, so 매운 finds 매운맛; Korean
      particles are cut off: 떡볶이를 is 떡볶이; on PostgreSQL a Korean word of 3 or more characters also matches
      inside a compound, through the trigram index: 떡볶이 in 즉석떡볶이);
  on PostgreSQL also 1 x ts_rank over the 'simple' full-text vector (name and tags weigh more than the description);
  1 when it matches a preference tag, 0.5 when it matches a tag of an item they liked;
  3 when it is in the area the request names ("in Mapo", "해운대에서"), else 1 when it is in their home area (3 for
      a request that names nothing but binds: "lunch under 12k?").
On PostgreSQL the ranked matches are bounded subsets (see `matched_sql`), so a call costs about the same at
1,000 items as at 100,000. The ranking yields a pool POOL_FACTOR times larger than `limit`, for the turn's
diversity cut (customers/catalog/turn.py).
"""

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Concat
from django.db.models.lookups import Contains, Exact

from customers import spending
from customers.catalog import items, vocabulary
from customers.catalog.terms import HANGUL, terms
from customers.data import Candidate, Constraints
from customers.database import prepared_cursor
from customers.models import CatalogItem, ChatSession, ItemKind, ProposalKind, Rating

MAX_LIMIT = 50
POOL_FACTOR = 5
DESCRIPTION_CHARS = 300
LIKED_ITEMS = 20  # the latest items rated up whose tags boost the ranking
SHARE_TERMS = 8  # the request's first words whose share found in an item scores it
# PostgreSQL: how many matches each subset takes (request words in the area, anywhere; tastes in the area, anywhere).
SUBSET_IN_AREA, SUBSET_ANYWHERE, SUBSET_TASTES = 200, 300, 100
SUBSETS_TOTAL = 450  # rows scored at most
# Weights of the score's parts (see the module's docstring).
W_REQUEST, W_RANK, W_PREFERENCE, W_LIKED, W_NAMED_AREA, W_HOME_AREA = 3.0, 1.0, 1.0, 0.5, 3.0, 1.0


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """What the hard rules need of a customer."""

    customer_id: int
    allergen_mask: int
    diet_mask: int
    currency: str
    remaining_minor: int
    # The items they rated down, read with the facts: excluded by id on each row a query reads, where a correlated
    # subquery would probe the ratings once per row (and, with stale statistics, scan them once per row).
    rated_down: tuple[int, ...] = ()
    # What the customer stated in the session (`bound`): a price cap, tags ruled out, the kinds asked for.
    max_price: int | None = None
    exclude_tags: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


def bound(rules: RuleFacts, stated: Constraints) -> RuleFacts:
    """`rules` with the customer's stated constraints: their allergens and diets added to the profile's masks, the
    cap, the excluded tags and the kinds."""
    return replace(
        rules,
        allergen_mask=rules.allergen_mask | vocabulary.allergen_mask(stated.allergens),
        diet_mask=rules.diet_mask | vocabulary.diet_mask(stated.diets),
        max_price=stated.max_price,
        exclude_tags=tuple(tag.casefold() for tag in stated.exclude_tags),
        kinds=stated.kinds,
    )


@dataclass(frozen=True, slots=True)
class Facts:
    rules: RuleFacts
    home_area: str
    preferences: tuple[str, ...]
    liked_tags: tuple[str, ...]
    liked_names: tuple[str, ...] = ()  # rated up lately, newest first (with `facts(tastes=...)`)
    disliked_names: tuple[str, ...] = ()
    # The customer's pending profile proposals (they bind: in `rules`' masks already), and the codes declined from
    # the session `facts(session_id=...)` names: (kind, code) pairs, kind "allergy" or "diet".
    pending: tuple[tuple[str, str], ...] = ()
    declined: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """What a ranking matches: the request's words, the customer's preference tags and liked tags, the areas."""

    words: tuple[str, ...]
    preference: tuple[str, ...]
    liked: tuple[str, ...]
    named_area: str | None
    home_area: str
    pool: int  # ranked rows wanted before the diversity cut
    # A request that names nothing but binds (a kind looked for, a cap: "lunch under 12k?"): anything near home too.
    near_home: bool = False


def eligible(rules: RuleFacts) -> QuerySet[CatalogItem]:
    """The items that meet every hard rule of the customer: the one definition both databases use."""
    return CatalogItem.objects.filter(_rules_met(rules) & _served(rules))


def judged(rules: RuleFacts) -> QuerySet[CatalogItem]:
    """Every item, with `missed`: whether it is outside `eligible` (inactive, or failing one of the customer's rules,
    rated down included). The negation of `eligible`'s condition, computed on each row a query reads (never a join
    against the eligible set)."""
    met = _rules_met(rules) & _served(rules)
    return CatalogItem.objects.annotate(missed=ExpressionWrapper(~met, output_field=BooleanField()))


def _rules_met(rules: RuleFacts) -> Q:
    met = (
        Q(active=True)
        & Q(Exact(F("allergen_mask").bitand(rules.allergen_mask), 0))
        & (Q(food=False) | Q(Exact(F("diet_mask").bitand(rules.diet_mask), rules.diet_mask)))
        & (Q(price_minor__isnull=True) | Q(currency=rules.currency, price_minor__lte=rules.remaining_minor))
    )
    if rules.max_price is not None:
        met &= Q(price_minor__isnull=True) | Q(price_minor__lte=rules.max_price)
    if rules.kinds:
        met &= Q(kind__in=rules.kinds)
    if rules.exclude_tags:
        # A whole word of the keywords (name, tags, area, kind): " spicy " is not in " spicyness ".
        padded = Concat(Value(" "), F("keywords"), Value(" "), output_field=TextField())
        for tag in rules.exclude_tags:
            met &= ~Q(Contains(padded, f" {tag} "))
    if not rules.rated_down:
        return met
    if connection.vendor == "postgresql":
        # One array value however many they are: the statements that carry the rules keep one text as a customer
        # rates more items down, and stay prepared (customers.database).
        down = RawSQL('"customers_catalogitem"."id" = ANY(%s)', (list(rules.rated_down),), BooleanField())
        return met & ~Q(down)
    return met & ~Q(pk__in=rules.rated_down)


def _served(rules: RuleFacts) -> Q:
    """True unless the item is a restaurant with active dishes of which none meets the customer's rules: one index
    probe per restaurant row, two when it has dishes. Raw SQL around the dishes' compiled condition (compiling it as
    ORM subqueries in every query of a turn cost more than running them). Nothing when the kinds asked for leave
    restaurants out: the kind rule does, and PostgreSQL then parses and plans no probe."""
    served = _served_sql(rules)
    return Q() if served is None else Q(RawSQL(*served, output_field=BooleanField()))  # noqa: S611


def _served_sql(rules: RuleFacts) -> tuple[str, tuple[object, ...]] | None:
    """`_served` as SQL over a row named customers_catalogitem, and its parameters; None where it holds for every
    row."""
    if rules.kinds and ItemKind.RESTAURANT.value not in rules.kinds:
        return None
    passing, params = _passing_sql(rules, connection.vendor)
    # The redundant `venue_id >= id` keeps PostgreSQL from hashing a subquery (it hashes an EXISTS whose only outer
    # reference is an equality): a hash of every dish costs a scan of the whole catalog per call, a probe microseconds.
    dish_of = "d.venue_id = customers_catalogitem.id AND d.venue_id >= customers_catalogitem.id"
    # Constant fragments only: every value is a bound parameter.
    sql = " ".join(
        (
            "(customers_catalogitem.kind <> %s",
            "OR NOT EXISTS (SELECT 1 FROM customers_catalogitem d WHERE",
            dish_of,
            "AND d.active) OR EXISTS (SELECT 1 FROM (",
            passing,
            ") AS d WHERE",
            dish_of,
            "))",
        )
    )
    return sql, (ItemKind.RESTAURANT.value, *params)


def passing_dishes(rules: RuleFacts) -> QuerySet[CatalogItem]:
    """The dishes with a venue that meet the customer's rules: (venue_id, external_id) rows. Every rule but the kinds
    asked for: "a restaurant" is served by its dishes."""
    dishes = CatalogItem.objects.filter(_rules_met(replace(rules, kinds=())), venue__isnull=False)
    return dishes.order_by().values("venue_id", "external_id")


@functools.lru_cache(maxsize=256)
def eligible_rows_sql(rules: RuleFacts, columns: tuple[str, ...], vendor: str) -> tuple[str, tuple[object, ...]]:
    """`columns` of `eligible(rules)` compiled (SQL ending with its WHERE clause, and parameters) once per customer's
    rules and database: what the recording of a turn's cards joins (customers/catalog/recommendations.py `insert`).
    Compiling the rules as ORM conditions every turn cost more CPU than planning the statement, and more than the rest
    of the recording."""
    return _rows_sql(eligible(rules), columns)


# The columns `judged`'s `missed` reads of a row (`missed_sql` over rows that a subquery selected).
JUDGED_COLUMNS = ("id", "active", "allergen_mask", "diet_mask", "food", "price_minor", "currency", "kind", "keywords")
_MISSED_SUFFIX = ' AS "missed" FROM "customers_catalogitem" WHERE (TRUE)'


@functools.lru_cache(maxsize=256)
def _rules_met_rows_sql(rules: RuleFacts, vendor: str) -> tuple[str, tuple[object, ...]]:
    """PostgreSQL: the ids of the items that meet every rule but the venue rule (`_served`), compiled as
    `eligible_rows_sql` is: what `matched_sql` adds each subset's terms to, before the ranking's venue rule judges
    the rows they chose (docs/decisions/0043-the-venue-rule-judges-the-chosen-rows.md)."""
    return _rows_sql(CatalogItem.objects.filter(_rules_met(rules)), ("id",))


def _rows_sql(query: QuerySet[CatalogItem], columns: tuple[str, ...]) -> tuple[str, tuple[object, ...]]:
    """`columns` of `query` as SQL ending with its WHERE clause (to which a caller adds terms), and parameters."""
    sql, params = query.order_by().values(*columns).extra(where=["TRUE"]).query.sql_with_params()
    return sql, tuple(params)


@functools.lru_cache(maxsize=256)
def missed_sql(rules: RuleFacts, vendor: str) -> tuple[str, tuple[object, ...]]:
    """PostgreSQL: `judged(rules)`'s `missed` alone, an expression over a row named customers_catalogitem with the
    JUDGED_COLUMNS (SQL and parameters), compiled once per customer's rules."""
    sql, params = judged(rules).order_by().values("missed").extra(where=["TRUE"]).query.sql_with_params()
    if not (sql.startswith("SELECT ") and sql.endswith(_MISSED_SUFFIX)):
        raise RuntimeError("judged(rules) no longer compiles to one expression over the catalog's row")
    return sql.removeprefix("SELECT ").removesuffix(_MISSED_SUFFIX), tuple(params)


@functools.lru_cache(maxsize=256)
def _passing_sql(rules: RuleFacts, vendor: str) -> tuple[str, tuple[object, ...]]:
    """`passing_dishes` compiled (SQL and parameters), once per customer's rules and database."""
    sql, params = passing_dishes(rules).query.sql_with_params()
    return sql, tuple(params)


def _dishes_sql(rules: RuleFacts) -> tuple[str, list[object]]:
    """PostgreSQL: a column of the row's passing dishes, a JSON array of external ids (empty for any other item)."""
    passing, params = _passing_sql(rules, connection.vendor)
    # Constant fragments only: every value is a bound parameter.
    sql = " ".join(
        (
            "(SELECT COALESCE(jsonb_agg(d.external_id ORDER BY d.external_id), '[]') FROM (",
            passing,
            ") AS d WHERE d.venue_id = customers_catalogitem.id)",
        )
    )
    return sql, list(params)


def facts(*, customer_id: int, tastes: int = 0, session_id: UUID | None = None) -> Facts | None:
    """The customer's rule facts, home area, preferences and liked tags in one query, or None if no such customer.
    Their pending profile proposals bind as the profile's codes do (safety first: until the customer declines).
    With `tastes`, the same query also names the items they rated up and down lately, at most `tastes` a side
    (newest first, from their latest 4 x `tastes` ratings); with `session_id`, the codes declined from it."""
    params: list[object] = [LIKED_ITEMS, *([tastes * 4] if tastes > 0 else [])]
    if session_id is not None:
        params.append(ChatSession._meta.pk.get_db_prep_value(session_id, connection))
    params.append(customer_id)
    with prepared_cursor() as cursor:
        cursor.execute(_facts_sql(connection.vendor, tastes > 0, session_id is not None), params)
        found = cursor.fetchone()
    if found is None:
        return None
    row = dict(zip(_facts_columns(tastes > 0, session_id is not None), found, strict=True))
    for name in ("allergies", "diets", "preferences"):  # JSON, read as text on both databases
        row[name] = json_array(row[name])
    liked_tags = tuple(
        dict.fromkeys(tag for tags in json_array(row["liked"]) if isinstance(tags, list) for tag in tags)
    )
    liked: dict[str, None] = {}
    disliked: dict[str, None] = {}
    for rating, name in json_array(row.get("tastes")):
        side = liked if rating == Rating.UP else disliked
        if len(side) < tastes:
            side[name] = None
    pending = _kind_codes(row["pending"])
    return Facts(
        rules=RuleFacts(
            customer_id=customer_id,
            allergen_mask=vocabulary.allergen_mask([*row["allergies"], *_codes(pending, ProposalKind.ALLERGY)]),
            diet_mask=vocabulary.diet_mask([*row["diets"], *_codes(pending, ProposalKind.DIET)]),
            currency=row["currency"],
            remaining_minor=spending.remaining(
                row["monthly_limit_minor"], row["spent_this_month_minor"], row["spent_month"]
            ),
            rated_down=tuple(json_array(row["rated_down"])),
        ),
        home_area=row["home_area"],
        preferences=tuple(row["preferences"]),
        liked_tags=liked_tags,
        liked_names=tuple(liked),
        disliked_names=tuple(disliked),
        pending=pending,
        declined=_kind_codes(row.get("declined")),
    )


def _kind_codes(value: object) -> tuple[tuple[str, str], ...]:
    """`kind:code` strings (the proposals' subqueries) as (kind, code) pairs, in their order, once each."""
    pairs = (tuple(text.split(":", 1)) for text in json_array(value) if isinstance(text, str) and ":" in text)
    return tuple(dict.fromkeys(pairs))


def _codes(pairs: Iterable[tuple[str, str]], kind: str) -> list[str]:
    return [code for pair_kind, code in pairs if pair_kind == kind]


_FACTS_COLUMNS = (
    "allergies",
    "diets",
    "preferences",
    "home_area",
    "currency",
    "monthly_limit_minor",
    "spent_this_month_minor",
    "spent_month",
)


def _facts_columns(tastes: bool, declined: bool) -> tuple[str, ...]:
    """The names of `facts`' columns, in the order of `_facts_sql`'s."""
    return (
        *_FACTS_COLUMNS,
        "liked",
        "rated_down",
        "pending",
        *(["tastes"] if tastes else []),
        *(["declined"] if declined else []),
    )


@functools.lru_cache(maxsize=8)
def _facts_sql(vendor: str, tastes: bool, declined: bool) -> str:
    """`facts`' statement (parameters: LIKED_ITEMS, the tastes' limit when `tastes`, the session when `declined`,
    the customer's id), written once per database: built as an ORM query it cost a millisecond of CPU a call, and a
    turn reads the facts twice (the recording reads them again)."""
    subqueries = [
        _LIKED_SQL,
        _RATED_DOWN_SQL,
        _PENDING_SQL,
        *([_TASTES_SQL] if tastes else []),
        *([_DECLINED_SQL] if declined else []),
    ]
    columns = [
        *(f'"customers_customer"."{name}" AS "{name}"' for name in _FACTS_COLUMNS),
        *(" ".join(("(", _json_rows(subquery, vendor), ")")) for subquery in subqueries),
    ]
    # Constant fragments only: every value is a bound parameter. Quoted as the ORM quotes.
    return " ".join(("SELECT", ", ".join(columns), 'FROM "customers_customer" WHERE "customers_customer"."id" = %s'))


# Subqueries of the customer row (`facts`), each a JSON array of its rows, newest first: the tags of the latest items
# rated up, the ids of every item rated down, and (rating, name) of the latest ratings.
_LIKED_SQL = (
    "SELECT i.tags AS value, r.rated_at FROM customers_recommendation r JOIN customers_catalogitem i "
    "ON i.id = r.item_id WHERE r.customer_id = customers_customer.id AND r.rating = 'up' "
    "ORDER BY r.rated_at DESC LIMIT %s"
)
_RATED_DOWN_SQL = (
    "SELECT r.item_id AS value, r.rated_at FROM customers_recommendation r "
    "WHERE r.customer_id = customers_customer.id AND r.rating = 'down'"
)
_TASTES_SQL = (
    "SELECT {pair} AS value, r.rated_at FROM customers_recommendation r JOIN customers_catalogitem i "
    "ON i.id = r.item_id WHERE r.customer_id = customers_customer.id AND r.rating <> '' "
    "ORDER BY r.rated_at DESC LIMIT %s"
)


# The customer's pending proposals, and the codes declined from one session, as "kind:code" strings (oldest first).
_PENDING_SQL = (
    "SELECT {kind_code} AS value, p.stated_at AS rated_at FROM customers_profileproposal p "
    "WHERE p.customer_id = customers_customer.id AND p.status = 'pending'"
)
_DECLINED_SQL = (
    "SELECT {kind_code} AS value, p.stated_at AS rated_at FROM customers_profileproposal p "
    "WHERE p.session_id = %s AND p.status = 'declined' AND p.customer_id = customers_customer.id"
)


def _json_rows(subquery: str, vendor: str) -> str:
    """`subquery`'s values (its `value` column) as one JSON array, in its order."""
    if vendor == "postgresql":
        rows, array = (
            "jsonb_build_array(r.rating, i.name)",
            "COALESCE(jsonb_agg(t.value ORDER BY t.rated_at DESC), '[]')",
        )
        kind_code = "p.kind || ':' || p.code"
    else:
        rows, array = "json_array(r.rating, i.name)", "json_group_array(json(t.value))"
        kind_code = "json_quote(p.kind || ':' || p.code)"
    return " ".join(("SELECT", array, "FROM (", subquery.format(pair=rows, kind_code=kind_code), ") AS t"))


def json_array(value: object) -> list:
    """A JSON array column as a list: Django reads jsonb as text (JSONField parses it); SQLite's JSON is text too."""
    if isinstance(value, str):
        value = json.loads(value)
    return value or []


def request_of(found: Facts, *, text: str, limit: int, near_home: bool = False) -> Request | None:
    """What ranking `text` (a request's search text, its statements taken out: `stated.read(...).query`) for the
    customer matches; None when nothing would (no candidates then). With `near_home`, a text that names nothing
    also meets anything in the customer's home area."""
    named_area = vocabulary.area_named_in(text)
    words = tuple(terms([text], drop_areas=True))
    preference = tuple(terms(found.preferences))
    liked = tuple(terms(found.liked_tags))
    near_home = near_home and not words and not named_area and bool(found.home_area)
    if not (words or preference or liked or named_area or near_home):
        return None
    return Request(words, preference, liked, named_area, found.home_area, limit * POOL_FACTOR, near_home)


def asked_sql(wanted: Request) -> tuple[str, list[object]]:
    """PostgreSQL: how many of the request's own first SHARE_TERMS words an item matches (SQL and parameters); 0 for
    an item met only through the customer's tastes or the area."""
    parts: list[str] = []
    params: list[object] = []
    for word in wanted.words[:SHARE_TERMS]:
        condition, word_params = _matches([word])
        parts.append(f"(CASE WHEN {condition} THEN 1 ELSE 0 END)")
        params += word_params
    return (" + ".join(parts) or "0"), params


def asked_in(text: str, wanted: Request) -> int:
    """SQLite: `asked_sql` for an item's text (keywords and description, folded)."""
    return sum(1 for word in wanted.words[:SHARE_TERMS] if word in text)


def nothing_fits(wanted: Request, best_eligible: int, best_ruled_out: int) -> bool:
    """Whether a request is for what the rules keep out: an item outside the customer's rules matches more of its
    words (`asked_sql`) than any eligible item the search met, and no eligible item matches more than half of them
    ("steamed snow crab" for a crustacean allergy; "a night yacht tour" over the budget, where an eligible night view
    matches one word of three). Then nothing fits, and no stand-in is offered."""
    words = len(wanted.words[:SHARE_TERMS])
    return best_ruled_out > best_eligible and 2 * best_eligible <= words


def _tsquery(words: Sequence[str], *, prefix: bool = True) -> str:
    r"""Any of `words`: a Korean word as a prefix (매운 finds 매운맛) unless `prefix` is off (tags, matched whole),
    another as itself or its plural or singular (an exact lexeme costs a GIN index far less than a prefix). Words
    are \w only, so quoting them suffices."""
    terms = []
    for word in words:
        if not prefix or (len(word) == 1 and HANGUL.match(word)):
            # One Korean syllable (회, 전, 빵) is a word only whole: as a prefix it would meet half the catalog.
            terms.append(f"'{word}'")
        elif HANGUL.search(word):
            terms.append(f"'{word}':*")
        else:
            other = word[:-1] if word.endswith("s") and len(word) > 3 else f"{word}s"
            terms += [f"'{word}'", f"'{other}'"]
    return " | ".join(terms)


def matched_sql(
    rows: tuple[str, Sequence[object]], wanted: Request, columns: Sequence[str] = ("id",)
) -> tuple[str, list[object]]:
    """PostgreSQL: `columns` of the rows that match `wanted` (SQL and parameters) among `rows` (a compiled query
    selecting them and ending with its WHERE clause: `_rules_met_rows_sql`), at most SUBSETS_TOTAL
    of them (a row may repeat): bounded subsets of the matches, each from an index (or, for a word common enough, a
    scan that stops at the subset's LIMIT), united. Scoring every match would cost time in proportion to the catalog
    (a common tag matches a tenth of it); the subsets bound it. When more items match than a subset takes, it holds
    the first ones the index yields, so the subsets that add an area come first: they hold the matches that score
    highest."""
    request, preference, liked, named_area = wanted.words, wanted.preference, wanted.liked, wanted.named_area
    focus = named_area or wanted.home_area
    tastes = [*preference, *liked]
    subsets: list[tuple[str, list[object], str | None, int]] = []  # (condition, params, area or None, limit)
    # In this order: the executor stops at SUBSETS_TOTAL rows, so the later (broader) subsets often never run.
    if request and focus:
        subsets.append((*_matches(request, in_area=focus), focus, SUBSET_IN_AREA))
    if tastes and focus:
        subsets.append((*_matches(tastes, in_area=focus, prefix=False), focus, SUBSET_TASTES))
    if request:
        subsets.append((*_matches(request), None, SUBSET_ANYWHERE))
    if tastes:
        subsets.append((*_matches(tastes, prefix=False), None, SUBSET_TASTES))
    if named_area:
        subsets.append(("TRUE", [], named_area, SUBSET_TASTES))
    elif wanted.near_home:
        subsets.append(("TRUE", [], wanted.home_area, SUBSET_TASTES))
    if not subsets:  # nothing to meet (the names to avoid of a request that only ranks near home)
        subsets.append(("FALSE", [], None, 1))
    # `rows` compiled once (compiling a query per subset cost milliseconds a call); the SQL ends with its WHERE
    # clause, to which each subset adds its own terms.
    base_sql, base_params = rows
    union_sql, union_params = [], []
    for condition, params, in_area, limit in subsets:
        in_area_sql = "" if in_area is None else " AND customers_catalogitem.area = %s"
        union_sql.append(f"({base_sql} AND {condition}{in_area_sql} LIMIT %s)")
        union_params += [*base_params, *params, *([] if in_area is None else [in_area]), limit]
    # Constant fragments only: every value is a bound parameter.
    sql = " ".join(("SELECT", ", ".join(columns), "FROM (", " UNION ALL ".join(union_sql), ") AS subsets LIMIT %s"))
    return sql, [*union_params, SUBSETS_TOTAL]


def ranked_sql(ranked: RuleFacts, wanted: Request, rules: RuleFacts) -> tuple[str, list[object]]:
    """PostgreSQL: the ranking statement (its SQL and parameters), the best `wanted.pool` of `eligible(ranked)` with
    their `score` and their `dishes` passing `rules`, best first: the matches `matched_sql` finds, scored and
    ordered."""
    vector, area = "customers_catalogitem.search_vector", "customers_catalogitem.area"
    request, preference, liked, named_area = wanted.words, wanted.preference, wanted.liked, wanted.named_area
    focus = named_area or wanted.home_area
    # The venue rule judges the rows the subsets chose, once (written into every subset, it was planned five times
    # a turn, and planning the ranking is most of its server CPU).
    matched, matched_params = matched_sql(_rules_met_rows_sql(ranked, connection.vendor), wanted)
    served, served_params = _served_sql(ranked) or ("TRUE", ())
    score_parts: list[str] = []
    score_params: list[object] = []
    if request:
        shared = request[:SHARE_TERMS]
        hit_sql: list[str] = []
        hit_params: list[object] = []
        for word in shared:
            condition, params = _matches([word])
            hit_sql.append(f"(CASE WHEN {condition} THEN 1 ELSE 0 END)")
            hit_params += params
        score_parts.append(f"%s * ({' + '.join(hit_sql)}) / %s")
        score_params += [W_REQUEST, *hit_params, len(shared)]
        score_parts.append(f"%s * ts_rank({vector}, to_tsquery('simple', %s))")
        score_params += [W_RANK, _tsquery(request)]
    for words, weight in ((preference, W_PREFERENCE), (liked, W_LIKED)):
        if words:
            condition, params = _matches(words, prefix=False)
            score_parts.append(f"(CASE WHEN {condition} THEN %s ELSE 0 END)")
            score_params += [*params, weight]
    if focus:
        score_parts.append(f"(CASE WHEN {area} = %s THEN %s ELSE 0 END)")
        # A request that names nothing but binds ("lunch?") is for near home above all, as one naming its area.
        score_params += [focus, W_NAMED_AREA if named_area or wanted.near_home else W_HOME_AREA]
    columns = ", ".join(f"customers_catalogitem.{name}" for name in _COLUMNS)
    dishes, dishes_params = _dishes_sql(rules)
    # The matches as an array (computed once, then read by primary key), not `id IN (...)`: the planner costs the
    # venue rule's probe on every row a subset might read, so the subsets look dearer than a scan of the whole
    # catalog sorted by score and semi-joined to them, the plan it chose at 100,000 items (300 ms a call).
    # Constant fragments only: every value is a bound parameter.
    sql = " ".join(
        (
            "SELECT",
            columns,
            ",",
            dishes,
            "AS dishes, (",
            " + ".join(score_parts) or "0",
            ") AS score FROM customers_catalogitem WHERE customers_catalogitem.id = ANY(ARRAY(",
            matched,
            ")) AND",
            served,
            "ORDER BY score DESC, id LIMIT %s",
        )
    )
    return sql, [*dishes_params, *score_params, *matched_params, *served_params, wanted.pool]


def ranked_rows(found: Iterable[dict]) -> list[Candidate]:
    """The ranking statement's rows (column name -> value, JSON columns as lists or as JSON text) as candidates."""
    return [
        _candidate(
            {**row, **{name: _json_list(row[name]) for name in ("tags", "allergens", "diets", "mentions", "dishes")}},
            float(row["score"]),
        )
        for row in found
    ]


def _json_list(value: object) -> list | None:
    """A JSON list column as a list, keeping null (unknown allergens) as None."""
    return None if value is None else json_array(value)


def _matches(words: Sequence[str], *, in_area: str | None = None, prefix: bool = True) -> tuple[str, list[object]]:
    """SQL true when the item matches any of `words`: as full-text prefixes, or (a Korean word of 3 or more
    characters, which compounds hide: 떡볶이 in 즉석떡볶이) as a substring of the keywords, through the trigram
    index. With `in_area`, the full-text part also asks for the area's token, so that one GIN scan intersects both
    (a bitmap AND of a common word's matches and an area's costs time in proportion to the catalog)."""
    vector, keywords = "customers_catalogitem.search_vector", "customers_catalogitem.keywords"
    query = _tsquery(words, prefix=prefix)
    if in_area is not None:
        query = f"({query}) & '{items.area_token(in_area)}'"
    parts, params = [f"{vector} @@ to_tsquery('simple', %s)"], [query]
    for word in words if prefix else ():
        if len(word) >= 3 and HANGUL.match(word):
            parts.append(f"{keywords} LIKE %s")
            params.append(f"%{word}%")
    return f"({' OR '.join(parts)})", params


def ranked_simple(rows: QuerySet[CatalogItem], wanted: Request, rules: RuleFacts) -> tuple[list[Candidate], int]:
    """SQLite: substring matching in SQL, the same scores without the full-text rank and trigram parts, computed in
    Python over at most SCAN_LIMIT matches; the passing dishes of the best ones in one more query; and which of the
    request's own words they match (`asked_sql`)."""
    request, preference, liked, named_area = wanted.words, wanted.preference, wanted.liked, wanted.named_area
    scored = []
    asked = 0
    for row in rows.filter(simple_match(wanted)).order_by("id").values(*_COLUMNS, "keywords")[:SCAN_LIMIT]:
        text = f"{row['keywords']} {row['description'].casefold()}"
        asked = max(asked, asked_in(text, wanted))
        score = W_REQUEST * _share(request[:SHARE_TERMS], text)
        score += W_PREFERENCE * any(word in text for word in preference)
        score += W_LIKED * any(word in text for word in liked)
        if named_area:
            score += W_NAMED_AREA if row["area"] == named_area else 0
        elif wanted.home_area and row["area"] == wanted.home_area:
            score += W_NAMED_AREA if wanted.near_home else W_HOME_AREA
        scored.append((score, row))
    scored.sort(key=lambda pair: -pair[0])  # stable: ties keep id order
    best = scored[: wanted.pool]
    dishes: dict[int, list[str]] = {}
    venues = [row["id"] for _, row in best if row["kind"] == ItemKind.RESTAURANT]
    for row in passing_dishes(rules).filter(venue_id__in=venues).order_by("external_id"):
        dishes.setdefault(row["venue_id"], []).append(row["external_id"])
    return [_candidate({**row, "dishes": dishes.get(row["id"], [])}, score) for score, row in best], asked


SCAN_LIMIT = 2000


def simple_match(wanted: Request) -> Q:
    """SQLite: an item matching `wanted`, by substrings (any word of the request, the preferences or the liked
    tags in its keywords or description), or in the area it names."""
    match = Q()
    for word in (*wanted.words, *wanted.preference, *wanted.liked):
        match |= Q(keywords__contains=word) | Q(description__icontains=word)
    if wanted.named_area:
        match |= Q(area=wanted.named_area)
    elif wanted.near_home:
        match |= Q(area=wanted.home_area)
    return match if match else Q(pk__in=())  # an empty Q() would match every row


def _share(words: Sequence[str], text: str) -> float:
    return sum(1 for word in words if word in text) / len(words) if words else 0.0


_COLUMNS = (
    "id",
    "external_id",
    "kind",
    "name",
    "area",
    "price_minor",
    "currency",
    "tags",
    "allergens",
    "diets",
    "mentions",
    "food",
    "description",
)


def _candidate(row: dict, score: float) -> Candidate:
    description = row["description"]
    if len(description) > DESCRIPTION_CHARS:
        description = description[: DESCRIPTION_CHARS - 1].rstrip() + "…"
    return Candidate(
        external_id=row["external_id"],
        kind=row["kind"],
        name=row["name"],
        area=row["area"],
        price_minor=row["price_minor"],
        currency=row["currency"],
        tags=tuple(row["tags"]),
        allergens=None if row["allergens"] is None else tuple(row["allergens"]),
        diets=tuple(row["diets"]),
        mentions=tuple(row["mentions"]),
        dishes=tuple(row["dishes"]),
        food=row["food"],
        description=description,
        score=round(score, 6),
    )
