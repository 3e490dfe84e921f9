"""Profile allergies and diets as codes: the migration's conversion, updates with synonyms, /me, the admin forms."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import ProtectedError
from django.urls import reverse

from customers import services
from customers.catalog.recommendations import record as recommendations_record
from customers.errors import InvalidInput
from customers.models import CatalogItem, Customer, Recommendation
from customers.profiles import customer_update
from tests.customers.catalog_support import catalog_items_eligible

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_free_text_allergies_into_codes_and_notes():
    executor = MigrationExecutor(connection)
    executor.migrate([("customers", "0001_initial")])
    old = executor.loader.project_state([("customers", "0001_initial")]).apps
    user = old.get_model("auth", "User").objects.create(username="old-timer")
    old.get_model("customers", "Customer").objects.create(
        user_id=user.pk, display_name="Old", allergies=["peanuts", "vegetarian", "shellfish", "kiwi", "글루텐프리"]
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    customer = Customer.objects.get(display_name="Old")
    assert customer.allergies == ["peanut", "crustacean", "mollusc"]
    assert customer.diets == ["vegetarian", "gluten_free"]
    assert customer.dietary_notes == ["kiwi"]


def test_updates_take_synonyms_as_codes_and_refuse_the_unknown(alice):
    profile = customer_update(customer_id=alice.customer_id, allergies=["땅콩", "Shellfish"], diets=["비건"])
    assert profile.allergies == ("peanut", "crustacean", "mollusc")
    assert profile.diets == ("vegan",)
    with pytest.raises(InvalidInput, match="Unknown allergen code"):
        customer_update(customer_id=alice.customer_id, allergies=["kiwi"])
    with pytest.raises(InvalidInput, match="Unknown diet code"):
        customer_update(customer_id=alice.customer_id, diets=["keto"])
    profile = customer_update(customer_id=alice.customer_id, dietary_notes=["kiwi"])
    context = services.customer_profile_get(customer_id=alice.customer_id)
    assert (context.allergies, context.diets, context.dietary_notes) == (
        ("peanut", "crustacean", "mollusc"),
        ("vegan",),
        ("kiwi",),
    )


def test_me_shows_codes_and_notes(client, make_customer):
    customer = make_customer("frank", allergies=["peanut"], diets=["vegetarian"], dietary_notes=["kiwi"])
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {customer.token}")
    assert response.status_code == 200
    body = response.json()
    assert (body["allergies"], body["diets"], body["dietary_notes"]) == (["peanut"], ["vegetarian"], ["kiwi"])


def test_the_demo_customers_have_codes():
    services.demo_customers_seed()
    found = {c.user.username: (c.allergies, c.diets) for c in Customer.objects.select_related("user")}
    assert found == {
        "alice": (["peanut"], []),
        "bob": (["crustacean", "mollusc"], []),
        "charlie": (["wheat"], ["vegetarian"]),
    }


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_superuser(username="staff", password="pw")
    client.force_login(staff)
    return client


def test_the_customer_admin_moves_coded_notes_to_codes(staff_client, alice):
    url = reverse("admin:customers_customer_change", args=[alice.customer_id])
    page = staff_client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update(
        {
            "allergies": ["sesame"],
            "diets": ["halal"],
            "dietary_notes": "땅콩\nkiwi\n비건",
            "preferences": '["spicy food"]',
        }
    )
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get(pk=alice.customer_id)
    assert (customer.allergies, customer.diets, customer.dietary_notes) == (
        ["peanut", "sesame"],
        ["vegan", "halal"],
        ["kiwi"],
    )


def test_the_catalog_admin_lists_filters_and_validates(staff_client):
    services.catalog_demo_seed()
    listing = reverse("admin:customers_catalogitem_changelist")
    for query in ("", "?kind=dish", "?allergen=peanut", "?diet=vegan", "?active__exact=1", "?q=떡볶이"):
        assert staff_client.get(listing + query).status_code == 200, query
    peanut = staff_client.get(listing + "?allergen=peanut&kind=dish")
    names = {item.external_id for item in peanut.context["cl"].result_list}
    assert "mapo-peanut-noodle:1" in names
    assert all("peanut" in item.allergens for item in peanut.context["cl"].result_list)
    vegan = staff_client.get(listing + "?diet=vegan").context["cl"].result_list
    assert vegan
    assert all("vegan" in item.diets for item in vegan)

    add = reverse("admin:customers_catalogitem_add")
    data = {
        "external_id": "admin-made",
        "kind": "dish",
        "name": "비빔밥",
        "description": "",
        "area": "Seoul, Mapo-gu",
        "price_minor": "9000",
        "currency": "KRW",
        "tags": "korean\n한식",
        "allergens": ["sesame", "soy"],
        "diets": ["vegan"],
        "food": "on",
        "active": "on",
    }
    bad = staff_client.post(add, {**data, "allergens": ["peanuts"]})
    assert bad.status_code == 200
    assert "allergens" in bad.context["adminform"].form.errors
    bad = staff_client.post(add, {**data, "external_id": "has space"})
    assert "external_id" in bad.context["adminform"].form.errors
    bad = staff_client.post(add, {**data, "tags": "t" * 41})
    assert "tags" in bad.context["adminform"].form.errors
    assert staff_client.post(add, data).status_code == 302
    item = CatalogItem.objects.get(external_id="admin-made")
    assert (item.allergens, item.tags, item.diet_mask) == (["soy", "sesame"], ["korean", "한식"], 0b10)
    assert "비빔밥" in item.keywords


def test_the_recommendation_admin_is_read_only(staff_client, alice):
    services.catalog_demo_seed()
    recommendations_record(customer_id=alice.customer_id, session_id=None, recommended=[("mapo-jazz-club", "")])
    listing = staff_client.get(reverse("admin:customers_recommendation_changelist"))
    assert listing.status_code == 200
    assert staff_client.get(reverse("admin:customers_recommendation_add")).status_code == 403


def test_a_rated_item_is_never_deleted_and_its_reimport_keeps_the_rating(staff_client, alice, tmp_path):
    services.catalog_demo_seed()
    external_id = "mapo-jazz-club"
    [shown] = recommendations_record(customer_id=alice.customer_id, session_id=None, recommended=[(external_id, "")])
    services.recommendation_rate(
        customer_id=alice.customer_id, recommendation_id=shown.recommendation_id, rating="down"
    )
    item = CatalogItem.objects.get(external_id=external_id)

    one = staff_client.post(reverse("admin:customers_catalogitem_delete", args=[item.pk]), {"post": "yes"})
    assert one.status_code == 200  # the page names the rows that protect it: nothing is deleted
    assert CatalogItem.objects.filter(pk=item.pk).exists()
    bulk = {"action": "delete_selected", "_selected_action": [item.pk], "post": "yes"}
    staff_client.post(reverse("admin:customers_catalogitem_changelist"), bulk)
    assert CatalogItem.objects.filter(pk=item.pk).exists()
    with pytest.raises(ProtectedError):
        CatalogItem.objects.filter(pk=item.pk).delete()
    assert CatalogItem.objects.filter(pk=item.pk).exists()
    assert Recommendation.objects.get(pk=shown.recommendation_id).rating == "down"

    demo = (Path(services.__file__).parent / "demo_data" / "catalog.jsonl").read_text(encoding="utf-8")
    [line] = [line for line in demo.splitlines() if json.loads(line)["external_id"] == external_id]
    (tmp_path / "again.jsonl").write_text(line + "\n", encoding="utf-8")
    call_command("catalog_import", str(tmp_path / "again.jsonl"), stdout=io.StringIO())
    assert CatalogItem.objects.get(external_id=external_id).pk == item.pk
    assert not catalog_items_eligible(customer_id=alice.customer_id, external_ids=[external_id])
