"""Recommendation rows through `customers.services`: recorded in order, listed, rated and re-rated, private."""

import uuid

import pytest
from django.db import transaction

from customers import services
from customers.catalog.recommendations import record as recommendations_record
from customers.errors import InvalidInput, RecommendationNotFound
from customers.models import Recommendation

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_catalog():
    services.catalog_demo_seed()


def test_recorded_rows_come_back_in_order_with_their_items(alice, demo_catalog):
    session = services.session_open(customer_id=alice.customer_id)
    shown = recommendations_record(
        customer_id=alice.customer_id,
        session_id=session.session_id,
        recommended=[("mapo-jazz-club", "  live jazz tonight "), ("mapo-bul-jjukkumi:1", "spicy, as you like")],
    )
    assert [(r.external_id, r.reason, r.rating) for r in shown] == [
        ("mapo-jazz-club", "live jazz tonight", None),
        ("mapo-bul-jjukkumi:1", "spicy, as you like", None),
    ]
    first = shown[0]
    assert (first.kind, first.area, first.price_minor, first.currency) == ("place", "Seoul, Mapo-gu", 15000, "KRW")
    assert first.session_id == session.session_id
    listed = services.recommendations_list(customer_id=alice.customer_id, session_id=session.session_id)
    assert [r.recommendation_id for r in listed] == [r.recommendation_id for r in shown]
    assert services.recommendations_list(customer_id=alice.customer_id, session_id=uuid.uuid4()) == ()


def test_recording_joins_the_callers_transaction(alice, demo_catalog):
    with transaction.atomic():
        recommendations_record(customer_id=alice.customer_id, session_id=None, recommended=[("mapo-jazz-club", "")])
        transaction.set_rollback(True)
    assert not Recommendation.objects.exists()


def test_an_unknown_item_is_refused_and_nothing_is_written(alice, demo_catalog):
    with pytest.raises(InvalidInput, match="unknown catalog item: nope"):
        recommendations_record(
            customer_id=alice.customer_id, session_id=None, recommended=[("mapo-jazz-club", ""), ("nope", "")]
        )
    assert not Recommendation.objects.exists()
    assert recommendations_record(customer_id=alice.customer_id, session_id=None, recommended=[]) == ()


def test_rating_again_replaces_and_another_customers_is_not_found(alice, bob, demo_catalog):
    (shown,) = recommendations_record(
        customer_id=alice.customer_id, session_id=None, recommended=[("mapo-jazz-club", "")]
    )
    rid = shown.recommendation_id
    up = services.recommendation_rate(customer_id=alice.customer_id, recommendation_id=rid, rating="up", note="좋아요")
    assert (up.recommendation_id, up.rating, up.note) == (rid, "up", "좋아요")
    down = services.recommendation_rate(customer_id=alice.customer_id, recommendation_id=rid, rating="down")
    assert (down.rating, down.note) == ("down", "")
    assert down.rated_at >= up.rated_at
    (row,) = services.recommendations_list(customer_id=alice.customer_id)
    assert (row.rating, row.note, row.rated_at) == ("down", "", down.rated_at)
    with pytest.raises(RecommendationNotFound):
        services.recommendation_rate(customer_id=bob.customer_id, recommendation_id=rid, rating="up")
    with pytest.raises(RecommendationNotFound):
        services.recommendation_rate(customer_id=alice.customer_id, recommendation_id=uuid.uuid4(), rating="up")
    assert services.recommendations_list(customer_id=bob.customer_id) == ()


@pytest.mark.parametrize("rating", ["", "UP", "meh", "like", None])
def test_a_bad_rating_is_refused(alice, demo_catalog, rating):
    (shown,) = recommendations_record(
        customer_id=alice.customer_id, session_id=None, recommended=[("mapo-jazz-club", "")]
    )
    with pytest.raises(InvalidInput):
        services.recommendation_rate(
            customer_id=alice.customer_id, recommendation_id=shown.recommendation_id, rating=rating
        )
    with pytest.raises(InvalidInput):
        services.recommendation_rate(
            customer_id=alice.customer_id, recommendation_id=shown.recommendation_id, rating="up", note="n" * 501
        )


def test_recent_tastes_name_what_was_liked_and_disliked(alice, demo_catalog):
    shown = recommendations_record(
        customer_id=alice.customer_id,
        session_id=None,
        recommended=[("mapo-jazz-club", ""), ("mapo-haneul-park", ""), ("mapo-escape-room", "")],
    )
    services.recommendation_rate(
        customer_id=alice.customer_id, recommendation_id=shown[0].recommendation_id, rating="up"
    )
    services.recommendation_rate(
        customer_id=alice.customer_id, recommendation_id=shown[2].recommendation_id, rating="down"
    )
    tastes = services.catalog_turn_read(customer_id=alice.customer_id, text="")
    assert tastes.liked == ("홍대 재즈클럽 '블루 문' (Blue Moon Jazz Club)",)
    assert tastes.disliked == ("홍대 방탈출 카페 (escape room)",)
