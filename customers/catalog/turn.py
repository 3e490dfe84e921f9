"""A chat turn's catalog read: the candidates for the message, the names the reply must never carry, and what the
customer rated lately. Live every turn, never cached (the remaining budget and the ratings move).

The candidates are the ranking's best (`search.ranked_sql`), at most MAX_PER_VENUE of one venue (`venue`).

The names to avoid are the turn's nearest misses, not the whole catalog's misfits: the items the turn's own search meets
(`search.matched_sql`, the ranking's bounded subsets: the request's words in the focus area and anywhere, the customer's
tastes, a named area), here over the whole catalog rather than the eligible items, that fail the customer's rules
(`search.judged`: the negation of `search.eligible`'s condition, computed on each row the subsets met once they have
read it, so the rows met are never joined again), by name, `AVOID` of them at most. So their cost is bounded like the
ranking's at any catalog size, and what they guard is what the model is likeliest to bring up: the items near the
request. An item far from the turn's search is not looked for; the model is shown only eligible candidates, and every
card is checked in code whatever the text says (llm/grounding.py). With nothing to search (no request words, tastes or
area) there is no ranking and no names.

On PostgreSQL, two statements (one when there is nothing to search):
  1. the customer's row with its facts (`search.facts`): the hard rules' inputs, home area, preferences, and as
     subqueries the tags of the items they rated up lately and the names they rated up and down lately;
  2. the ranking statement (`search.ranked_sql`; the candidates as one JSON array, each restaurant with its dishes
     that pass) and, beside it in the same row, the names to avoid as an array, and how many of the request's own
     words the best eligible item and the best item kept out match (`search.nothing_fits`), the items met read once
     (a CTE).

What the message states (`stated.read`: allergies, diets, exclusions, a cap, kinds) is read first, in code, and
binds with the session's constraints (`search.bound`); its search text is what is left once the statements are
taken out. A message that asks for nothing has no ranking and no names. The kinds it looks for without stating them
(`looks_for`: food for "lunch?") narrow this turn's ranking alone; a request that names nothing but binds ranks near
home. Nothing fits, and no stand-in is offered, when its words meet nothing in the catalog, or name what the rules
keep out whole.
SQLite (the quick start's fallback) answers the same with its simple matching (`search.simple_match`): the ranking,
the names and the ranked restaurants' passing dishes as queries of their own.
"""

from collections.abc import Iterable
from dataclasses import replace
from uuid import UUID

from django.db import connection

from customers.catalog import search, stated, vocabulary
from customers.data import NO_CONSTRAINTS, Candidate, Constraints, TurnCatalog
from customers.database import planned_row
from customers.models import ProposalKind

AVOID = 200  # names to avoid at most: the text check's list
MAX_PER_VENUE = 2


def read(
    *,
    customer_id: int,
    text: str,
    limit: int,
    tastes: int,
    constraints: Constraints = NO_CONSTRAINTS,
    session_id: UUID | None = None,
) -> TurnCatalog | None:
    """The turn's catalog side for the customer's message `text`, bound by the session's `constraints`, by what
    `text` states (read in code, `stated.read`) and by the customer's pending profile proposals; None when there is
    no such customer. A message that asks for nothing has no candidates and no names. With `session_id`, the codes
    declined from that session too."""
    found = search.facts(customer_id=customer_id, tastes=tastes, session_id=session_id)
    if found is None:
        return None
    said = stated.read(text)
    binding = stated.tighten(constraints, said.constraints)
    rules = search.bound(found.rules, binding)
    limit = max(1, min(limit, search.MAX_LIMIT))
    binds = bool(said.looks_for or binding.kinds or binding.max_price is not None)
    wanted = search.request_of(found, text=said.query, limit=limit, near_home=binds) if said.asks else None
    ranked: list[Candidate] = []
    names: tuple[str, ...] = ()
    asks = said.asks
    if wanted is not None:
        # The kinds a request looks for without stating them ("lunch?", "somewhere to walk") rank alone, within the
        # kinds the session binds (never instead of them); what else its words meet is not ruled out by them (no
        # name to avoid, no reason that nothing fits).
        looked_for = tuple(kind for kind in said.looks_for if not rules.kinds or kind in rules.kinds)
        ranked_rules = replace(rules, kinds=looked_for) if looked_for else rules
        if connection.vendor == "postgresql":
            ranked, names, found_eligible, found_ruled_out = _ranked_and_missed(ranked_rules, wanted, rules)
        else:
            eligible, judged = search.eligible(ranked_rules), search.judged(rules)
            ranked, found_eligible = search.ranked_simple(eligible, wanted, rules)
            missed = judged.filter(search.simple_match(_near(wanted)), missed=True).order_by("name")
            rows = missed.values_list("name", "keywords", "description")[: AVOID * 2]
            names = tuple(dict.fromkeys(name for name, _, _ in rows))[:AVOID]
            found_ruled_out = 0
            for _, keywords, description in rows:
                found_ruled_out = max(found_ruled_out, search.asked_in(f"{keywords} {description.casefold()}", wanted))
        if search.nothing_fits(wanted, found_eligible, found_ruled_out) or _names_what_is_kept_out(wanted, rules):
            ranked = []  # what it names is better matched by items the rules keep out: nothing fits, no stand-ins
        elif wanted.words and not found_eligible and not said.explicit:
            # It names nothing the catalog has and asks in no words of asking ("what time is it?"): it asks for
            # nothing. One that asks ("뭐 먹지?") is answered from the customer's tastes, unless what follows.
            ranked, asks = [], False
        elif wanted.words and not (
            found_eligible or found_ruled_out or wanted.named_area or binding.kinds or said.looks_for
        ):
            # Its words meet nothing in the catalog ("skiing", "스키장") and it names no area or kind: nothing fits,
            # and no stand-in from the customer's tastes is offered.
            ranked = []
    return TurnCatalog(
        candidates=diverse(ranked, limit),
        avoid_names=names,
        liked=found.liked_names,
        disliked=found.disliked_names,
        constraints=binding,
        stated=said.constraints,
        asks=asks,
        pending=_as_constraints(found.pending),
        declined=_as_constraints(found.declined),
    )


def _as_constraints(pairs: Iterable[tuple[str, str]]) -> Constraints:
    """(kind, code) pairs of profile proposals as allergen and diet codes."""
    pairs = tuple(pairs)
    return Constraints(
        allergens=tuple(code for kind, code in pairs if kind == ProposalKind.ALLERGY),
        diets=tuple(code for kind, code in pairs if kind == ProposalKind.DIET),
    )


def _near(wanted: search.Request) -> search.Request:
    """What the names to avoid are looked for by: the request's own search, not the whole home area it may rank."""
    return replace(wanted, near_home=False)


# What each diet keeps out, as allergen codes a request may name ("삼겹살" for a vegetarian).
_KEPT_OUT_BY_DIET = {
    "vegetarian": ("pork", "beef", "chicken", "fish", "crustacean", "mollusc"),
    "vegan": ("pork", "beef", "chicken", "fish", "crustacean", "mollusc", "milk", "egg"),
    "halal": ("pork",),
}


def _names_what_is_kept_out(wanted: search.Request, rules: search.RuleFacts) -> bool:
    """Whether the request asks by name for what the customer's rules keep out: an allergen of theirs ("peanut
    butter smoothie" for a peanut allergy), or meat for a vegetarian ("삼겹살 맛집"), every code of a word kept out.
    Whatever else it names, nothing fits."""
    words = wanted.words
    named = [
        word
        for i, word in enumerate(words)  # not a diet's word: "gluten free" asks for no gluten
        if i + 1 == len(words) or vocabulary.normalize_term(word + words[i + 1]) not in vocabulary.DIET_TERMS
    ]
    diets = vocabulary.codes_of_mask(rules.diet_mask, vocabulary.DIETS)
    kept_out = {*vocabulary.codes_of_mask(rules.allergen_mask, vocabulary.ALLERGENS)}
    kept_out.update(code for diet in diets for code in _KEPT_OUT_BY_DIET.get(diet, ()))
    # A word kept out as a whole: "고기" (meat) still fits when only pork is ruled out.
    return any((codes := stated.allergens_named([word])) and kept_out.issuperset(codes) for word in named)


def _ranked_and_missed(
    ranked_rules: search.RuleFacts, wanted: search.Request, rules: search.RuleFacts
) -> tuple[list[Candidate], tuple[str, ...], int, int]:
    """One statement, one row: the ranked candidates of `search.eligible(ranked_rules)` as a JSON array (in the
    ranking's order, each restaurant with its dishes that pass `rules`); as an array (ARRAY() keeps its subquery's
    order) the names of the items that the same search meets in the whole catalog and that are outside the eligible
    items of `rules` (`search.judged`), each judged on the row its subset read;
    and the most of the request's own words that an eligible item met matches, and that an item kept out matches
    (`search.asked_sql`). The items met are read once (a CTE used three times)."""
    asked, asked_params = search.asked_sql(wanted)
    columns = ("name", *search.JUDGED_COLUMNS)
    every = ", ".join(f"customers_catalogitem.{name}" for name in columns)
    # Constant fragments only: every value is a bound parameter.
    catalog_sql = " ".join(("SELECT (", asked, ") AS asked,", every, "FROM customers_catalogitem WHERE TRUE"))
    catalog = (catalog_sql, asked_params)
    subsets_sql, subsets_params = search.matched_sql(catalog, _near(wanted), columns=(*columns, "asked"))
    # Each row met judged once its subset has read it: in a subset, the venue rule's probes on every row it might
    # read make an index scan look dearer than a scan of the whole catalog that stops at the subset's LIMIT.
    missed, missed_params = search.missed_sql(rules, connection.vendor)
    met_sql = " ".join(
        (
            "SELECT customers_catalogitem.name,",
            missed,
            "AS missed, customers_catalogitem.asked FROM (",
            subsets_sql,
            ") AS customers_catalogitem",
        )
    )
    met_params = [*missed_params, *subsets_params]
    ranked_sql, ranked_params = search.ranked_sql(ranked_rules, wanted, rules)
    # Constant fragments only: every value is a bound parameter.
    ranked, names, found_eligible, found_ruled_out = planned_row(
        " ".join(
            (
                "WITH met AS (",
                met_sql,
                ") SELECT (SELECT jsonb_agg(to_jsonb(r) ORDER BY r.score DESC, r.id) FROM (",
                ranked_sql,
                ") AS r) , ARRAY( SELECT DISTINCT met.name FROM met WHERE met.missed ORDER BY met.name LIMIT %s),",
                "(SELECT COALESCE(max(met.asked) FILTER (WHERE NOT met.missed), 0) FROM met),",
                "(SELECT COALESCE(max(met.asked) FILTER (WHERE met.missed), 0) FROM met)",
            )
        ),
        [*met_params, *ranked_params, AVOID],
    )
    return search.ranked_rows(search.json_array(ranked)), tuple(names), found_eligible, found_ruled_out


def venue(external_id: str) -> str:
    """The venue an item belongs to: `external_id` up to its first ":" (a restaurant and its dishes share one)."""
    return external_id.split(":", 1)[0]


def diverse(ranked: Iterable[Candidate], limit: int) -> tuple[Candidate, ...]:
    """The best of `ranked`, at most MAX_PER_VENUE of one venue, at most `limit`."""
    chosen: list[Candidate] = []
    per_venue: dict[str, int] = {}
    for candidate in ranked:
        key = venue(candidate.external_id)
        if per_venue.get(key, 0) >= MAX_PER_VENUE:
            continue
        per_venue[key] = per_venue.get(key, 0) + 1
        chosen.append(candidate)
        if len(chosen) == limit:
            break
    return tuple(chosen)
