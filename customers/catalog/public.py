"""The catalog's public functions: codes, a turn's catalog read, import, and the recommendations shown and rated.
Other apps reach them through `customers.services`."""

from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from customers.catalog import importer as catalog_importer
from customers.catalog import items as catalog_items
from customers.catalog import recommendations as catalog_recommendations
from customers.catalog import turn as catalog_turn
from customers.catalog import vocabulary
from customers.data import (
    NO_CONSTRAINTS,
    CatalogImportResult,
    Constraints,
    RecommendationInfo,
    RecommendationRating,
    TurnCatalog,
)
from customers.database import database_required
from customers.errors import (
    CustomerNotFound,
)
from customers.models import Rating

# --- catalog and recommendations ----------------------------------------------------------------------------------
# The catalog's modules live in customers/catalog/; this block is their public face.

ALLERGEN_CODES: tuple[str, ...] = vocabulary.ALLERGENS
DIET_CODES: tuple[str, ...] = vocabulary.DIETS
ITEM_KINDS: tuple[str, ...] = catalog_items.KINDS
RATINGS: tuple[str, ...] = tuple(Rating.values)
DEMO_CATALOG_PATH = Path(__file__).resolve().parent.parent / "demo_data" / "catalog.jsonl"


@database_required
def catalog_turn_read(
    *,
    customer_id: int,
    text: str,
    limit: int = 8,
    tastes: int = 3,
    constraints: Constraints = NO_CONSTRAINTS,
    session_id: UUID | None = None,
) -> TurnCatalog:
    """The catalog side of a chat turn for the customer's message `text`, read live (never cached): at most `limit`
    candidates, best first, every one meeting the customer's hard rules (active, none of their allergens, declared
    or mentioned by its own text, and for a customer with any allergy no food item whose allergens are unknown; all
    their diets when food, within the remaining monthly limit in their currency, not rated down by them; a
    restaurant with active dishes only when one of them meets these too, carried in `Candidate.dishes`) and the
    session's `constraints` with what `text` states (`stated.read`), possibly none (none when it asks for nothing);
    the names of the items failing them among those the turn's search meets (200 at most, none without anything to
    search: what a reply's text must never name); the names of the items they rated up and down lately (`tastes` a
    side at most). The customer's pending profile proposals bind like their profile's codes and are returned
    (`pending`), with the codes declined from `session_id` (`declined`). Two SQL statements on PostgreSQL at any
    catalog size (customers/catalog/turn.py). Raises CustomerNotFound."""
    found = catalog_turn.read(
        customer_id=customer_id,
        text=text,
        limit=limit,
        tastes=tastes,
        constraints=constraints,
        session_id=session_id,
    )
    if found is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return found


@database_required
def catalog_import(
    *, path: str | Path, deactivate_missing: bool = False, progress: Callable[[int, int], None] | None = None
) -> CatalogImportResult:
    """Import a catalog file (JSON array or JSON Lines) per the contract: validated whole, then upserted by
    external_id. Raises CatalogImportError naming the first bad row and field; nothing is written then."""
    return catalog_importer.import_file(path, deactivate_missing=deactivate_missing, progress=progress)


def catalog_demo_seed() -> CatalogImportResult:
    """Import the demo catalog shipped with the project (idempotent: a second run changes nothing)."""
    return catalog_import(path=DEMO_CATALOG_PATH)


@database_required
def recommendations_list(
    *, customer_id: int, session_id: UUID | None = None, limit: int = 100
) -> tuple[RecommendationInfo, ...]:
    """The customer's recommendations (of one session if given), oldest first."""
    return catalog_recommendations.list_(customer_id=customer_id, session_id=session_id, limit=limit)


@database_required
def recommendation_rate(
    *, customer_id: int, recommendation_id: UUID, rating: str, note: str = ""
) -> RecommendationRating:
    """Rate a recommendation `up` or `down`; rating again replaces it. A down-rated item is never a candidate for
    this customer again. Raises RecommendationNotFound (absent or another customer's), InvalidInput."""
    return catalog_recommendations.rate(
        customer_id=customer_id, recommendation_id=recommendation_id, rating=rating, note=note
    )
