"""The catalog's rules asked directly, for the tests: which items a customer may be shown now."""

from collections.abc import Sequence

from customers.catalog import search
from customers.data import NO_CONSTRAINTS, Constraints
from customers.errors import CustomerNotFound


def catalog_items_eligible(
    *, customer_id: int, external_ids: Sequence[str], constraints: Constraints = NO_CONSTRAINTS
) -> frozenset[str]:
    """Which of `external_ids` exist and meet the customer's hard rules and `constraints` now, by the conditions the
    candidates and the recording use (`search.eligible`). Raises CustomerNotFound."""
    found = search.facts(customer_id=customer_id)
    if found is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    if not external_ids:
        return frozenset()
    rows = search.eligible(search.bound(found.rules, constraints)).filter(external_id__in=list(external_ids))
    return frozenset(rows.values_list("external_id", flat=True))
