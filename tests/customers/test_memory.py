"""Profile memory in `customers` (customers/memory.py), on PostgreSQL and SQLite: proposals written once per code,
never for a code of the profile or one declined from the same session; pending ones bind the customer's facts;
decisions and edits are recorded."""

import pytest

from customers import memory, services
from customers.catalog import search, vocabulary
from customers.models import ProfileChange, ProfileProposal

pytestmark = pytest.mark.django_db


def _turn(customer, session_id, *proposed) -> None:
    services.session_record_activity(
        session_id=session_id, messages_added=2, prompt_tokens=1, completion_tokens=1, proposed=list(proposed)
    )


def _pending(customer) -> list[tuple[str, str]]:
    """From the database (these tests run in one transaction, which never commits: the cache is not dropped)."""
    return [(p.kind, p.code) for p in memory.proposals_pending(customer_id=customer.customer_id)]


def test_a_stated_code_is_proposed_once_and_never_one_of_the_profile(alice):
    first = services.session_open(customer_id=alice.customer_id).session_id
    second = services.session_open(customer_id=alice.customer_id).session_id
    _turn(alice, first, ("allergy", "sesame"), ("allergy", "peanut"), ("diet", "vegan"), ("allergy", "not-a-code"))
    _turn(alice, second, ("allergy", "sesame"))
    assert sorted(_pending(alice)) == [("allergy", "sesame"), ("diet", "vegan")]
    assert ProfileProposal.objects.count() == 2


def test_pending_codes_bind_the_customers_facts_until_declined(alice):
    session_id = services.session_open(customer_id=alice.customer_id).session_id
    _turn(alice, session_id, ("allergy", "sesame"))
    found = search.facts(customer_id=alice.customer_id, session_id=session_id)
    assert found.rules.allergen_mask == vocabulary.allergen_mask(["peanut", "sesame"])
    assert found.pending == (("allergy", "sesame"),)
    [proposal] = memory.proposals_pending(customer_id=alice.customer_id)
    services.profile_proposal_decline(customer_id=alice.customer_id, proposal_id=proposal.proposal_id)
    found = search.facts(customer_id=alice.customer_id, session_id=session_id)
    assert found.rules.allergen_mask == vocabulary.allergen_mask(["peanut"])
    assert found.declined == (("allergy", "sesame"),)
    _turn(alice, session_id, ("allergy", "sesame"))  # declined from this session: not again
    assert _pending(alice) == []
    other = services.session_open(customer_id=alice.customer_id).session_id
    _turn(alice, other, ("allergy", "sesame"))  # said again in a new conversation
    assert _pending(alice) == [("allergy", "sesame")]


def test_a_decision_is_taken_once_and_recorded(alice, bob):
    session_id = services.session_open(customer_id=alice.customer_id).session_id
    _turn(alice, session_id, ("diet", "vegan"))
    [proposal] = memory.proposals_pending(customer_id=alice.customer_id)
    with pytest.raises(services.ProposalNotFound):
        services.profile_proposal_accept(customer_id=bob.customer_id, proposal_id=proposal.proposal_id)
    me = services.profile_proposal_accept(
        customer_id=alice.customer_id, proposal_id=proposal.proposal_id, by_user_id=alice.user_id
    )
    assert me.profile.diets == ("vegan",)
    assert me.proposals == ()
    with pytest.raises(services.ProposalDecided):
        services.profile_proposal_decline(customer_id=alice.customer_id, proposal_id=proposal.proposal_id)
    [change] = ProfileChange.objects.all()
    assert (change.action, change.source, change.before["diets"], change.after["diets"]) == (
        "accept",
        "customer",
        [],
        ["vegan"],
    )


def test_an_edit_maps_words_to_codes_keeps_the_rest_as_notes_and_refuses_money(alice):
    me = services.customer_profile_edit(
        customer_id=alice.customer_id, changes={"allergies": ["땅콩", "shellfish", "kiwi"]}
    )
    assert me.profile.allergies == ("peanut", "crustacean", "mollusc")
    assert me.profile.dietary_notes == ("kiwi",)
    with pytest.raises(services.InvalidInput) as refused:
        services.customer_profile_edit(customer_id=alice.customer_id, changes={"monthly_limit_minor": 1, "diets": []})
    assert refused.value.field == "monthly_limit_minor"
    assert ProfileChange.objects.count() == 1
