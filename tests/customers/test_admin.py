"""The admin of customers and sessions: lists, cache-aware saves and actions, and the live transcript port."""

from datetime import UTC, datetime
from uuid import UUID

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache as django_cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers import cache, ports, services, spending
from customers.models import ChatSession, Customer, ProfileChange, ProfileProposal
from customers.ports import LiveTranscript, SessionAdminActions, TranscriptLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def port():
    """Whatever adapter is installed (chat's, or none) is put back after the test."""
    saved = list(ports._registered)
    yield ports
    ports._registered[:] = saved


class FakeConversation:
    """Stands in for the conversation side that `chat` installs in the port; records what the admin asked."""

    def __init__(self, *, fail_for: UUID | None = None) -> None:
        self.ended: list[UUID] = []
        self.erased: list[UUID] = []
        self.fail_for = fail_for

    def transcript(self, session_id: UUID) -> LiveTranscript:
        at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
        return LiveTranscript(
            lines=(
                TranscriptLine(
                    seq=1, role="user", content="Lunch near Hongdae? <b>no peanuts</b>", tokens=9, created_at=at
                ),
                TranscriptLine(seq=2, role="assistant", content="Try the bibimbap place.", tokens=7, created_at=at),
            ),
            mood="happy",
            mood_source="user",
            rolling_summary="Alice wants lunch ideas.",
        )

    def end_and_summarize(self, session_id: UUID) -> None:
        if session_id == self.fail_for:
            raise RuntimeError("model unavailable")
        self.ended.append(session_id)

    def erase(self, session_id: UUID) -> None:
        self.erased.append(session_id)

    def actions(self) -> SessionAdminActions:
        return SessionAdminActions(
            transcript=self.transcript, session_end=self.end_and_summarize, session_delete=self.erase
        )


def _change_url(model: str, pk: object) -> str:
    return reverse(f"admin:customers_{model}_change", args=[pk])


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- customers ------------------------------------------------------------------------------------------------


def test_the_customer_list_searches_usernames_and_filters_by_language(admin_client, alice, bob):
    url = reverse("admin:customers_customer_changelist")
    assert admin_client.get(url).status_code == 200
    found = admin_client.get(url, {"q": "bob"})
    assert list(found.context["cl"].queryset) == [Customer.objects.get(pk=bob.customer_id)]
    english = admin_client.get(url, {"preferred_language__exact": "en"})
    assert [c.pk for c in english.context["cl"].queryset] == [bob.customer_id]


def test_the_customer_page_shows_the_remaining_limit_read_only(admin_client, bob):
    response = admin_client.get(_change_url("customer", bob.customer_id))
    assert response.status_code == 200
    assert "remaining_limit" not in response.context["adminform"].form.fields
    assert "20000" in response.content.decode()


def test_saving_a_customer_in_the_admin_drops_the_cached_entry_after_commit(
    admin_client, alice, django_capture_on_commit_callbacks
):
    assert services.customer_profile_get(customer_id=alice.customer_id).home_area == "Seoul, Mapo-gu"
    form = {
        "display_name": "Alice Kim",
        "birth_year": "1994",
        "home_area": "Busan",
        "preferred_language": "ko",
        "currency": "KRW",
        "monthly_limit_minor": "500000",
        "spent_this_month_minor": "120000",
        "preferences": '["spicy food", "hiking"]',
        "allergies": ["peanut", "sesame"],  # allergen codes, as checkboxes
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(_change_url("customer", alice.customer_id), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    context = services.customer_profile_get(customer_id=alice.customer_id)
    assert (context.home_area, context.allergies) == ("Busan", ("peanut", "sesame"))


def test_the_admin_refuses_an_invalid_tag_list(admin_client, alice):
    form = {
        "display_name": "Alice Kim",
        "preferred_language": "ko",
        "currency": "KRW",
        "monthly_limit_minor": "0",
        "spent_this_month_minor": "0",
        "preferences": '"spicy food"',
    }
    response = admin_client.post(_change_url("customer", alice.customer_id), form)
    assert response.status_code == 200
    assert "preferences" in response.context["adminform"].form.errors


def test_the_drop_cache_action_drops_the_customers_entries(
    admin_client, alice, bob, django_capture_on_commit_callbacks
):
    services.customer_profile_get(customer_id=alice.customer_id)
    services.customer_profile_get(customer_id=bob.customer_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:customers_customer_changelist"),
            {"action": "drop_cache_entries", "_selected_action": [alice.customer_id]},
            follow=True,
        )
    assert "Dropped the cache entries of 1 customer(s)." in _messages(response)
    assert django_cache.get(cache.CUSTOMER.key(alice.customer_id)) is None
    assert django_cache.get(cache.CUSTOMER.key(bob.customer_id)) is not None


# --- sessions -------------------------------------------------------------------------------------------------


def test_the_session_list_filters_by_status_and_searches_titles_and_customers(admin_client, alice, bob):
    services.session_open(customer_id=alice.customer_id, title="Hiking plans")
    ended = services.session_open(customer_id=bob.customer_id, title="Jazz bars")
    services.session_end(session_id=ended.session_id, summary="Bob likes jazz.")
    url = reverse("admin:customers_chatsession_changelist")
    assert [s.title for s in admin_client.get(url, {"status__exact": "ended"}).context["cl"].queryset] == ["Jazz bars"]
    assert [s.title for s in admin_client.get(url, {"q": "hiking"}).context["cl"].queryset] == ["Hiking plans"]
    assert [s.title for s in admin_client.get(url, {"q": "bob"}).context["cl"].queryset] == ["Jazz bars"]


def test_an_open_session_shows_its_live_transcript_escaped(admin_client, alice, port):
    port.register_session_admin_actions(FakeConversation().actions())
    session = services.session_open(customer_id=alice.customer_id)
    page = admin_client.get(_change_url("chatsession", session.session_id)).content.decode()
    assert "Lunch near Hongdae? &lt;b&gt;no peanuts&lt;/b&gt;" in page
    assert "Try the bibimbap place." in page
    assert "happy (user)" in page
    assert "Alice wants lunch ideas." in page
    assert "2026-05-01T12:00:00+00:00" in page


def test_without_an_adapter_or_with_a_failing_one_the_transcript_is_unavailable(admin_client, alice, port):
    session = services.session_open(customer_id=alice.customer_id)
    url = _change_url("chatsession", session.session_id)
    port._registered.clear()
    assert "live transcript unavailable" in admin_client.get(url).content.decode()

    def broken(session_id: UUID) -> LiveTranscript:
        raise ConnectionError("redis down")

    port.register_session_admin_actions(SessionAdminActions(transcript=broken, session_end=print, session_delete=print))
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "live transcript unavailable" in response.content.decode()


def test_an_ended_session_shows_its_stored_summary_and_read_only_counters(admin_client, alice, port):
    port.register_session_admin_actions(FakeConversation().actions())
    session = services.session_open(customer_id=alice.customer_id)
    services.session_end(session_id=session.session_id, summary="Recommended three peanut-free restaurants.")
    response = admin_client.get(_change_url("chatsession", session.session_id))
    page = response.content.decode()
    assert "Recommended three peanut-free restaurants." in page
    assert "Lunch near Hongdae" not in page
    assert set(response.context["adminform"].form.fields) == {"title"}


def test_editing_a_title_writes_only_the_title_so_turns_meanwhile_keep_their_counts(admin_client, alice):
    session = services.session_open(customer_id=alice.customer_id, title="old")
    services.session_record_activity(
        session_id=session.session_id, messages_added=2, prompt_tokens=50, completion_tokens=9
    )
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.post(_change_url("chatsession", session.session_id), {"title": "Dinner in Itaewon"})
    assert response.status_code == 302
    [update] = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('UPDATE "customers_chatsession"')]
    assert '"title"' in update
    assert "message_count" not in update
    row = ChatSession.objects.get(pk=session.session_id)
    assert (row.title, row.message_count, row.prompt_tokens) == ("Dinner in Itaewon", 2, 50)


def test_the_end_and_erase_actions_call_the_adapter_and_report(admin_client, alice, bob, port):
    conversation = FakeConversation()
    port.register_session_admin_actions(conversation.actions())
    first = services.session_open(customer_id=alice.customer_id)
    second = services.session_open(customer_id=bob.customer_id)
    already_ended = services.session_open(customer_id=bob.customer_id)
    services.session_end(session_id=already_ended.session_id, summary="done")
    url = reverse("admin:customers_chatsession_changelist")
    ids = [first.session_id, second.session_id, already_ended.session_id]

    response = admin_client.post(url, {"action": "end_and_summarize", "_selected_action": ids}, follow=True)
    assert sorted(conversation.ended) == sorted([first.session_id, second.session_id])
    assert "Ended and summarized 2 session(s)." in _messages(response)

    response = admin_client.post(url, {"action": "erase", "_selected_action": [first.session_id]}, follow=True)
    assert conversation.erased == [first.session_id]
    assert "Erased 1 session(s)." in _messages(response)


def test_a_failing_end_is_reported_and_does_not_stop_the_others(admin_client, alice, port):
    first = services.session_open(customer_id=alice.customer_id)
    second = services.session_open(customer_id=alice.customer_id)
    conversation = FakeConversation(fail_for=first.session_id)
    port.register_session_admin_actions(conversation.actions())
    response = admin_client.post(
        reverse("admin:customers_chatsession_changelist"),
        {"action": "end_and_summarize", "_selected_action": [first.session_id, second.session_id]},
        follow=True,
    )
    assert conversation.ended == [second.session_id]
    assert _messages(response) == ["Ended and summarized 1 session(s).", "1 session(s) failed; see the logs."]


def test_without_an_adapter_the_actions_say_so(admin_client, alice, port):
    port._registered.clear()
    session = services.session_open(customer_id=alice.customer_id)
    response = admin_client.post(
        reverse("admin:customers_chatsession_changelist"),
        {"action": "erase", "_selected_action": [session.session_id]},
        follow=True,
    )
    assert _messages(response) == ["Conversation actions are unavailable: no adapter is installed."]
    assert ChatSession.objects.filter(pk=session.session_id).exists()


def test_staff_without_permissions_cannot_run_the_session_actions(client, alice, port, django_user_model):
    conversation = FakeConversation()
    port.register_session_admin_actions(conversation.actions())
    staff = django_user_model.objects.create_user(username="viewer", password="pw-123456", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_chatsession"))
    client.force_login(staff)
    session = services.session_open(customer_id=alice.customer_id)
    client.post(
        reverse("admin:customers_chatsession_changelist"),
        {"action": "erase", "_selected_action": [session.session_id]},
    )
    assert conversation.erased == []


def test_renaming_a_user_in_the_admin_drops_their_cached_profile_after_commit(
    admin_client, alice, django_capture_on_commit_callbacks
):
    assert services.customer_profile_get(customer_id=alice.customer_id).username == "alice"  # cached now
    url = reverse("admin:auth_user_change", args=[alice.user_id])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(
        username="alice.kim",
        date_joined_0=form.initial["date_joined"].strftime("%Y-%m-%d"),
        date_joined_1=form.initial["date_joined"].strftime("%H:%M:%S"),
        groups=[],
        user_permissions=[],
    )
    data.pop("date_joined")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert services.customer_profile_get(customer_id=alice.customer_id).username == "alice.kim"


def _spending_form(**changes):
    form = {
        "display_name": "Bob Park",
        "preferred_language": "en",
        "currency": "KRW",
        "monthly_limit_minor": "300000",
        "spent_this_month_minor": "280000",
        "preferences": "[]",
        "allergies": ["crustacean", "mollusc"],
    }
    return {**form, **changes}


def test_the_admin_edits_the_spending_of_this_month_and_drops_the_cached_profile(
    admin_client, bob, django_capture_on_commit_callbacks
):
    last = "2000-01"
    Customer.objects.filter(pk=bob.customer_id).update(spent_month=last)
    page = admin_client.get(_change_url("customer", bob.customer_id)).content.decode()
    assert 'name="spent_month"' in page
    assert 'value="2000-01"' in page
    assert services.customer_profile_get(customer_id=bob.customer_id).remaining_limit_minor == 300_000  # a new month

    with django_capture_on_commit_callbacks(execute=True):  # another field: the spending keeps its month
        response = admin_client.post(_change_url("customer", bob.customer_id), _spending_form(spent_month=last))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Customer.objects.get(pk=bob.customer_id).spent_month == last

    with django_capture_on_commit_callbacks(execute=True):  # the spending typed in: this month's
        response = admin_client.post(
            _change_url("customer", bob.customer_id), _spending_form(spent_month=last, spent_this_month_minor="70000")
        )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Customer.objects.get(pk=bob.customer_id).spent_month == spending.this_month()
    assert services.customer_profile_get(customer_id=bob.customer_id).remaining_limit_minor == 230_000


def test_the_admin_refuses_a_spending_month_that_has_not_begun_or_is_malformed(admin_client, bob):
    for month in ("2999-01", "2026-13"):
        response = admin_client.post(_change_url("customer", bob.customer_id), _spending_form(spent_month=month))
        assert response.status_code == 200
        assert "spent_month" in response.context["adminform"].form.errors


# --- profile memory -------------------------------------------------------------------------------------------


def _propose(customer, code: str) -> ProfileProposal:
    session = services.session_open(customer_id=customer.customer_id)
    services.session_record_activity(
        session_id=session.session_id,
        messages_added=2,
        prompt_tokens=1,
        completion_tokens=1,
        proposed=[("allergy", code)],
    )
    return ProfileProposal.objects.get(customer_id=customer.customer_id, code=code)


def test_the_customer_page_shows_pending_proposals_and_the_change_history(admin_client, alice):
    _propose(alice, "sesame")
    services.customer_profile_edit(
        customer_id=alice.customer_id, changes={"diets": ["vegan"]}, by_user_id=alice.user_id
    )
    page = admin_client.get(_change_url("customer", alice.customer_id)).content.decode()
    assert "Allergy sesame" in page
    assert "Accept or decline them" in page
    assert "Customer (alice)" in page
    assert "&quot;vegan&quot;" in page


def test_staff_accept_and_decline_proposals_recorded_as_staff(admin_client, admin_user, alice, bob):
    sesame, egg = _propose(alice, "sesame"), _propose(bob, "egg")
    url = reverse("admin:customers_profileproposal_changelist")
    response = admin_client.post(url, {"action": "accept", "_selected_action": [sesame.pk]}, follow=True)
    assert "Accepted 1 proposal(s)." in _messages(response)
    admin_client.post(url, {"action": "decline", "_selected_action": [egg.pk]}, follow=True)
    assert Customer.objects.get(pk=alice.customer_id).allergies == ["peanut", "sesame"]
    assert Customer.objects.get(pk=bob.customer_id).allergies == ["crustacean", "mollusc"]
    changes = ProfileChange.objects.order_by("changed_at")
    assert [(c.customer_id, c.action, c.source, c.changed_by_id) for c in changes] == [
        (alice.customer_id, "accept", "staff", admin_user.pk),
        (bob.customer_id, "decline", "staff", admin_user.pk),
    ]
    again = admin_client.post(url, {"action": "decline", "_selected_action": [sesame.pk]}, follow=True)
    assert "1 were decided already." in _messages(again)


def test_a_staff_edit_of_the_dietary_profile_is_recorded(admin_client, admin_user, alice):
    egg, sesame = _propose(alice, "egg"), _propose(alice, "sesame")
    form = {
        "display_name": "Alice Kim",
        "birth_year": "1994",
        "home_area": "Seoul, Mapo-gu",
        "preferred_language": "ko",
        "currency": "KRW",
        "monthly_limit_minor": "500000",
        "spent_this_month_minor": "120000",
        "preferences": '["spicy food", "hiking"]',
        "allergies": ["peanut", "egg"],
    }
    response = admin_client.post(_change_url("customer", alice.customer_id), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    [change] = ProfileChange.objects.all()
    assert (change.source, change.action, change.changed_by_id) == ("staff", "edit", admin_user.pk)
    assert change.before == {"allergies": ["peanut"]}
    assert change.after == {"allergies": ["peanut", "egg"], "proposals_accepted": [str(egg.pk)]}
    # The edit put egg into the profile: its proposal is settled; sesame's still waits for the customer.
    egg.refresh_from_db()
    sesame.refresh_from_db()
    assert (egg.status, egg.decided_by_id, sesame.status) == ("accepted", admin_user.pk, "pending")
