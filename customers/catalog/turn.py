"""A chat turn's catalog read: the candidates for the message, the names the reply must never carry, and what the
customer rated lately. Live every turn, never cached (the remaining budget and the ratings move).

On PostgreSQL, two statements:
  1. the customer's row with its facts (`search.facts`): the hard rules' inputs, home area, preferences, and as
     subqueries the tags of the items they rated up lately and the names they rated up and down lately;
  2. the ranking statement (`search.ranked_sql`; the candidates as one JSON array) and, beside it in the same row,
     the names of the items failing the customer's hard rules (`AVOID` of them at most). Both start from
     `search.eligible`, the one definition of the rules. With nothing to match there is no ranking: the statement
     reads the names alone.
SQLite (the quick start's fallback) answers the same with the ranking and the names as queries of their own.
"""

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from customers.catalog import search
from customers.data import Candidate, TurnCatalog
from customers.models import CatalogItem

AVOID = 200  # names to avoid at most: the prompt's and the text check's list


def read(*, customer_id: int, text: str, limit: int, tastes: int) -> TurnCatalog | None:
    """The turn's catalog side for the customer's message `text`; None when there is no such customer."""
    found = search.facts(customer_id=customer_id, tastes=tastes)
    if found is None:
        return None
    limit = max(1, min(limit, search.MAX_LIMIT))
    wanted = search.request_of(found, text=text, limit=limit)
    eligible = search.eligible(found.rules)
    avoid = failing(eligible)
    if connection.vendor == "postgresql":
        ranked, names = _ranked_and_avoided(eligible, wanted, avoid)
    else:
        ranked = search.ranked_simple(eligible, wanted) if wanted else []
        names = tuple(avoid)
    return TurnCatalog(
        candidates=search.diverse(ranked, limit),
        avoid_names=names,
        liked=found.liked_names,
        disliked=found.disliked_names,
    )


def failing(eligible: QuerySet[CatalogItem]) -> QuerySet[CatalogItem, str]:
    """The names of the items outside `eligible` (inactive, or failing one of the customer's rules, rated down
    included), by name, at most AVOID."""
    # NOT EXISTS, an anti-join that stops once AVOID names are found; NOT IN hashed the whole eligible set first
    # (about twice the time at 100,000 items).
    outside = CatalogItem.objects.exclude(Exists(eligible.filter(pk=OuterRef("pk"))))
    return outside.order_by("name").values_list("name", flat=True)[:AVOID]


def _ranked_and_avoided(
    eligible: QuerySet[CatalogItem], wanted: search.Request | None, avoid: QuerySet[CatalogItem, str]
) -> tuple[list[Candidate], tuple[str, ...]]:
    """One statement, one row: the ranked candidates as a JSON array (in the ranking's order), the names as an array
    (ARRAY() keeps its subquery's order)."""
    names_sql, names_params = avoid.query.sql_with_params()
    ranked_sql, ranked_params = "NULL", []
    if wanted is not None:
        sql, ranked_params = search.ranked_sql(eligible, wanted)
        ranked_sql = " ".join(("(SELECT jsonb_agg(to_jsonb(r) ORDER BY r.score DESC, r.id) FROM (", sql, ") AS r)"))
    with connection.cursor() as cursor:
        # Constant fragments only: every value is a bound parameter.
        cursor.execute(" ".join(("SELECT", ranked_sql, ", ARRAY(", names_sql, ")")), [*ranked_params, *names_params])
        ranked, names = cursor.fetchone()
    return search.ranked_rows(search.json_array(ranked)), tuple(names)
