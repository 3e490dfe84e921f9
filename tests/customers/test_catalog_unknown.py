"""Unknown is not "free of" in the catalog's storage: the migration of the rows imported before it, and the admin
showing unknown against declared allergens, a dish's venue and a restaurant's dishes."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from customers import services
from customers.catalog import items, vocabulary
from customers.models import CatalogItem

pytestmark = pytest.mark.django_db

BEFORE = [("customers", "0003_transcript_archive")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_empty_lists_of_food_unknown_and_reads_every_items_text():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps.get_model("customers", "CatalogItem")
    rows = {  # external_id: (kind, name, allergens, food)
        "noodle": ("restaurant", "합정 땅콩국수 연구소", [], True),
        "dish": ("dish", "비빔밥", [], True),
        "stew": ("dish", "된장찌개", ["soy"], True),
        "snack": ("product", "과자", [], True),
        "walk": ("place", "산책로", [], False),
    }
    for external_id, (kind, name, allergens, food) in rows.items():
        old.objects.create(
            external_id=external_id, kind=kind, name=name, allergens=allergens, food=food,
            allergen_mask=vocabulary.allergen_mask(allergens),
        )  # fmt: skip
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    found = {i.external_id: (i.allergens, i.mentions, i.allergen_mask) for i in CatalogItem.objects.all()}
    assert found == {
        "noodle": (None, ["peanut"], items.ALL_ALLERGENS),  # imported with an empty list: unknown now
        "dish": (None, [], items.ALL_ALLERGENS),
        "stew": (["soy"], [], vocabulary.allergen_mask(["soy"])),  # an explicit list stays as it was
        "snack": (None, [], items.ALL_ALLERGENS),  # a food product too
        "walk": ([], [], 0),  # not food: its empty list binds nothing either way
    }


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_superuser(username="staff", password="pw")
    client.force_login(staff)
    return client


def test_the_admin_shows_unknown_against_declared_the_venue_and_a_restaurants_dishes(staff_client):
    services.catalog_demo_seed()
    mystery = CatalogItem.objects.create(
        external_id="mapo-mystery", kind="restaurant", name="Mystery Bistro", area="Seoul, Mapo-gu", allergens=None
    )
    listing = reverse("admin:customers_catalogitem_changelist")
    unknown = staff_client.get(listing + "?allergens=unknown")
    assert [item.external_id for item in unknown.context["cl"].result_list] == ["mapo-mystery"]
    assert "unknown" in unknown.content.decode()
    declared = staff_client.get(listing + "?allergens=declared").context["cl"].result_list
    assert "mapo-mystery" not in {item.external_id for item in declared}
    assert staff_client.get(listing + "?allergen=peanut").context["cl"].result_list  # unknown ones not among them
    assert "mapo-mystery" not in {
        i.external_id for i in staff_client.get(listing + "?allergen=peanut").context["cl"].result_list
    }

    venue = CatalogItem.objects.get(external_id="mapo-peanut-noodle")
    page = staff_client.get(reverse("admin:customers_catalogitem_change", args=[venue.pk])).content.decode()
    assert "(spicy peanut-sauce noodles) (mapo-peanut-noodle:1); 땅콩 콩국수" in page  # its dishes
    assert "peanut" in page
    dish = CatalogItem.objects.get(external_id="mapo-peanut-noodle:1")
    form = staff_client.get(reverse("admin:customers_catalogitem_change", args=[dish.pk])).context["adminform"].form
    assert form["venue"].value() == venue.pk
    assert form["allergens_declared"].value() is True
    assert (
        staff_client.get(reverse("admin:customers_catalogitem_change", args=[mystery.pk]))
        .context["adminform"]
        .form["allergens_declared"]
        .value()
        is False
    )


def test_the_admin_saves_unknown_declared_none_and_a_venue(staff_client):
    restaurant = CatalogItem.objects.create(external_id="r", kind="restaurant", name="국수집", allergens=[])
    add = reverse("admin:customers_catalogitem_add")
    data = {
        "external_id": "d",
        "kind": "dish",
        "name": "잔치국수",
        "description": "",
        "area": "Seoul, Mapo-gu",
        "currency": "KRW",
        "tags": "",
        "food": "on",
        "active": "on",
        "venue": str(restaurant.pk),
    }
    assert staff_client.post(add, data).status_code == 302
    dish = CatalogItem.objects.get(external_id="d")
    assert (dish.allergens, dish.venue, dish.allergen_mask) == (None, restaurant, items.ALL_ALLERGENS)
    change = reverse("admin:customers_catalogitem_change", args=[dish.pk])
    assert staff_client.post(change, {**data, "allergens_declared": "on"}).status_code == 302
    dish.refresh_from_db()
    assert (dish.allergens, dish.allergen_mask) == ([], 0)
    bad = staff_client.post(change, {**data, "venue": str(dish.pk)})
    assert "venue" in bad.context["adminform"].form.errors  # not a restaurant
