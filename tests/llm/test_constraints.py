"""A session's constraints in Redis: written by the BEGIN of the turn that states them (so a turn whose model call
fails keeps them, as it keeps its message), tightened by the model's `noted` in FINISH, read by admission in the
round trip it already makes, replaced only by the customer, gone with the session, and never another session's."""

from dataclasses import replace
from uuid import uuid4

import pytest

from llm import services, store
from llm.errors import LLMError
from tests.fakes.openai import Fault, JSONReply
from tests.llm.contexts import alice
from tests.llm.support import count_round_trips, raw_redis

SHRIMP = services.Constraints(allergens=("crustacean",))


def stating(constraints: services.Constraints, **fields) -> services.TurnContext:
    return replace(alice(), stated=constraints, constraints=constraints, **fields)


def test_admission_reads_the_sessions_constraints_in_its_one_round_trip(session_id):
    services.turn_reply(session_id=session_id, text="no shrimp", context=stating(SHRIMP))
    services.turn_admit(customer_id=alice().customer_id)  # warm: the script is loaded
    with count_round_trips() as trips:
        found = services.turn_admit(customer_id=alice().customer_id, session_id=session_id)
    assert trips.commands() == [["ADMIT", "HGETALL"]]
    assert found == SHRIMP


def test_a_turn_that_states_a_constraint_keeps_it_even_when_the_model_fails(session_id, fake_openai, no_retries):
    fake_openai.script(Fault.status(500))
    with pytest.raises(LLMError):
        services.turn_reply(session_id=session_id, text="새우 알레르기", context=stating(SHRIMP))
    assert services.conversation_get(session_id=session_id).constraints == SHRIMP
    assert [m.content for m in services.messages_list(session_id=session_id)] == ["새우 알레르기"]


def test_constraints_accumulate_and_only_tighten(session_id):
    capped = services.Constraints(max_price=20_000, exclude_tags=("spicy",))
    services.turn_reply(session_id=session_id, text="under 20,000, not spicy", context=stating(capped))
    looser = services.Constraints(max_price=50_000, kinds=("place",))
    turn = services.turn_reply(session_id=session_id, text="under 50,000, a place", context=stating(looser))
    expected = services.Constraints(max_price=20_000, exclude_tags=("spicy",), kinds=("place",))
    assert turn.constraints == expected
    assert services.conversation_get(session_id=session_id).constraints == expected


def test_the_models_note_is_validated_and_kept_for_later_turns(session_id, fake_openai):
    noted = {"allergens": ["sesame", "shrimp"], "diets": ["vegan"], "max_price": 9000, "exclude_tags": ["Mala"]}
    fake_openai.script(JSONReply({"mood": None, "noted": noted, "recommendations": [], "reply": "Noted."}))
    context = replace(alice(), vocabulary=services.Vocabulary(allergens=("sesame", "peanut"), diets=("vegan",)))
    turn = services.turn_reply(session_id=session_id, text="no sesame, vegan, under 9000", context=context)
    expected = services.Constraints(allergens=("sesame",), diets=("vegan",), max_price=9000, exclude_tags=("mala",))
    assert turn.constraints == expected
    assert services.conversation_get(session_id=session_id).constraints == expected


def test_only_the_customer_replaces_them_and_they_go_with_the_session(session_id):
    services.turn_reply(session_id=session_id, text="no shrimp", context=stating(SHRIMP))
    other = uuid4()
    assert services.conversation_get(session_id=other).constraints == services.Constraints()
    replaced = services.constraints_set(session_id=session_id, constraints=services.Constraints(max_price=1000))
    assert replaced == services.Constraints(max_price=1000)
    keys = store.session_keys(session_id)
    assert raw_redis().pttl(keys.constraints) > 0
    services.session_delete(session_id=session_id)
    assert not raw_redis().exists(keys.constraints)
    with pytest.raises(services.SessionClosed):
        services.constraints_set(session_id=session_id, constraints=SHRIMP)
