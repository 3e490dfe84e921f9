"""A chat turn's catalog read: the candidates for the message, the names the reply must never carry, and what the
customer rated lately. Live every turn, never cached (the remaining budget and the ratings move).

The candidates are the ranking's best (`search.ranked_sql`), at most MAX_PER_VENUE of one venue (`venue`).

The names to avoid are the turn's nearest misses, not the whole catalog's misfits: the items the turn's own search
meets (`search.matched_sql`, the ranking's bounded subsets: the request's words in the focus area and anywhere, the
customer's tastes, a named area), here over the whole catalog rather than the eligible items, that fail the
customer's rules (`search.judged`: the negation of `search.eligible`'s condition, computed on each row a subset
reads, so the rows met are never joined again), by name, `AVOID` of them at most. So their cost is bounded like the
ranking's at any catalog size, and what they guard is what the model is likeliest to bring up: the items near the
request. An item far from the turn's search is not looked for; the model is shown only eligible candidates, and
every card is checked in code whatever the text says (llm/grounding.py). With nothing to search (no request words,
tastes or area) there is no ranking and no names.

On PostgreSQL, two statements (one when there is nothing to search):
  1. the customer's row with its facts (`search.facts`): the hard rules' inputs, home area, preferences, and as
     subqueries the tags of the items they rated up lately and the names they rated up and down lately;
  2. the ranking statement (`search.ranked_sql`; the candidates as one JSON array, each restaurant with its dishes
     that pass) and, beside it in the same row, the names to avoid as an array.
SQLite (the quick start's fallback) answers the same with its simple matching (`search.simple_match`): the ranking,
the names and the ranked restaurants' passing dishes as queries of their own.
"""

from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet

from customers.catalog import search
from customers.data import Candidate, TurnCatalog
from customers.models import CatalogItem

AVOID = 200  # names to avoid at most: the text check's list
MAX_PER_VENUE = 2


def read(*, customer_id: int, text: str, limit: int, tastes: int) -> TurnCatalog | None:
    """The turn's catalog side for the customer's message `text`; None when there is no such customer."""
    found = search.facts(customer_id=customer_id, tastes=tastes)
    if found is None:
        return None
    limit = max(1, min(limit, search.MAX_LIMIT))
    wanted = search.request_of(found, text=text, limit=limit)
    ranked: list[Candidate] = []
    names: tuple[str, ...] = ()
    if wanted is not None:
        eligible, judged = search.eligible(found.rules), search.judged(found.rules)
        if connection.vendor == "postgresql":
            ranked, names = _ranked_and_missed(eligible, judged, wanted, found.rules)
        else:
            ranked = search.ranked_simple(eligible, wanted, found.rules)
            missed = judged.filter(search.simple_match(wanted), missed=True).order_by("name")
            names = tuple(missed.values_list("name", flat=True).distinct()[:AVOID])
    return TurnCatalog(
        candidates=diverse(ranked, limit),
        avoid_names=names,
        liked=found.liked_names,
        disliked=found.disliked_names,
    )


def _ranked_and_missed(
    eligible: QuerySet[CatalogItem], judged: QuerySet[CatalogItem], wanted: search.Request, rules: search.RuleFacts
) -> tuple[list[Candidate], tuple[str, ...]]:
    """One statement, one row: the ranked candidates as a JSON array (in the ranking's order), and as an array
    (ARRAY() keeps its subquery's order) the names of the items that the same search meets in the whole catalog and
    that are outside `eligible`, each judged on the row its subset read."""
    met_sql, met_params = search.matched_sql(judged, wanted, columns=("name", "missed"))
    ranked_sql, ranked_params = search.ranked_sql(eligible, wanted, rules)
    with connection.cursor() as cursor:
        # Constant fragments only: every value is a bound parameter.
        cursor.execute(
            " ".join(
                (
                    "SELECT (SELECT jsonb_agg(to_jsonb(r) ORDER BY r.score DESC, r.id) FROM (",
                    ranked_sql,
                    ") AS r) , ARRAY( SELECT DISTINCT met.name FROM (",
                    met_sql,
                    ") AS met WHERE met.missed ORDER BY met.name LIMIT %s)",
                )
            ),
            [*ranked_params, *met_params, AVOID],
        )
        ranked, names = cursor.fetchone()
    return search.ranked_rows(search.json_array(ranked)), tuple(names)


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
