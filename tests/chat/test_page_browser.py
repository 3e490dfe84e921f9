"""The chat page in a real browser: Debian's Chromium driven by Playwright, against the app under uvicorn (a live
ASGI server: the streamed reply arrives as the model produces it) and the fake OpenAI server.

One browser for the module, a fresh context (cookies, storage) and app server per test. Screenshots of the main
screens go to var/artifacts/browser/ (git-ignored) for a reviewer to look at.

Chromium is found at $CHROMIUM, else `chromium` on the PATH. Without one these tests skip, saying so, on a
developer's machine only: in CI (the CI variable set, as .ci/run does) a missing browser fails them.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db.models import F, Value
from django.db.models.functions import Concat

from customers import services as customers
from customers.models import CatalogItem, Recommendation
from tests.chat.support import answering
from tests.fakes.openai import Fault
from tests.harness.api import auth

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "browser"
PASSWORD = "a-long-customer-passphrase-1"
REASON = "매운 걸 좋아하시니까 (you like it spicy)"
# Markup a model or a catalog could carry: it must show as text, never run.
MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
WAIT_MS = 15_000


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        message = "no Chromium: install Debian's `chromium` (or set CHROMIUM to one) to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run them)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread, so Django's check for ORM calls made from async
    # code would refuse the tests' own database setup and teardown; the calls are synchronous, from the test.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=path)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE")
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 820}, locale="ko-KR")
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    tab.troubles = []  # what the page logged as an error, or threw
    tab.on("pageerror", lambda error: tab.troubles.append(str(error)))
    tab.on("console", lambda note: tab.troubles.append(note.text) if note.type == "error" else None)
    yield tab
    context.close()


@pytest.fixture
def alice_signs_in(alice):
    # A hash the server's settings can check (the tests' own hasher is MD5, for speed), with few rounds.
    password = PBKDF2PasswordHasher().encode(PASSWORD, "browser-test-salt", iterations=1000)
    get_user_model().objects.filter(pk=alice.user_id).update(password=password)
    customers.catalog_demo_seed()
    return alice


def base_url(server) -> str:
    """The server's address by name: with DEBUG off the cookies are Secure, which Chromium keeps over plain HTTP
    for localhost only."""
    return f"http://localhost:{server.port}"


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_in(page, server, *, shot: str = "") -> None:
    page.goto(base_url(server) + "/")
    assert page.url == base_url(server) + "/login/?next=/"
    if shot:
        screenshot(page, shot)
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url(server) + "/")
    page.locator("#display-name", has_text="Alice Kim").wait_for()


def new_chat(page) -> str:
    page.get_by_role("button", name="New chat").click()
    page.locator("#message-input").wait_for(state="visible")
    return page.evaluate("location.hash.slice(1)")


def say(page, text: str) -> None:
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def first_offered(reply: str):
    def make(items):
        (item_id, _), *_ = items
        return {"mood": "happy", "recommendations": [{"item_id": item_id, "reason": REASON}], "reply": reply}

    return make


def test_a_customer_chats_rates_a_card_removes_a_stated_allergy_and_saves_it_to_the_profile(
    page, alice_signs_in, app_server_factory, fake_openai
):
    # Slow enough that the page is seen mid-reply even on a busy machine (a whole reply in about 3 s).
    fake_openai.configure(stream_tokens_per_second=5)
    answering(fake_openai, first_offered("매운 떡볶이 어떠세요? Spicy tteokbokki, close by and within your cap."))
    server = app_server_factory(workers=1, openai=fake_openai)
    sign_in(page, server, shot="1-sign-in")
    session_id = new_chat(page)

    say(page, "참깨 알레르기가 있어요. 마포에서 매운 저녁 추천해 주세요")
    streaming = page.locator(".message.streaming")
    streaming.locator(".text", has_text="매운").wait_for()  # part of the reply, before the turn is done
    assert streaming.get_attribute("aria-live") == "polite"
    assert streaming.get_attribute("aria-busy") == "true"
    assert page.locator(".card").count() == 0
    card = page.locator(".card")
    card.wait_for()
    assert page.locator(".message.assistant .text").inner_text().startswith("매운 떡볶이 어떠세요?")
    assert card.locator(".card-reason").inner_text() == REASON
    assert "Allergens checked: no peanut, sesame" in card.locator(".receipt").inner_text()
    assert fake_openai.requests[-1].body["stream"] is True

    chip = page.locator("#constraints .chip", has_text="allergy: sesame")
    assert chip.is_visible()
    screenshot(page, "2-a-reply-with-a-card")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "3-phone-width")
    page.set_viewport_size({"width": 1100, "height": 820})

    name = card.locator(".card-name").inner_text()
    good = page.get_by_role("button", name=f"Good pick: {name}")
    good.click()
    page.wait_for_function("b => b.getAttribute('aria-pressed') === 'true'", arg=good.element_handle())
    assert page.get_by_role("button", name=f"Not for me: {name}").get_attribute("aria-pressed") == "false"
    [rating] = Recommendation.objects.filter(session_id=session_id).values_list("rating", flat=True)
    assert rating == "up"

    page.get_by_role("button", name="Remove allergy: sesame").click()
    chip.wait_for(state="detached")
    detail = server.get(f"/api/v1/sessions/{session_id}", headers=auth(alice_signs_in)).json()
    assert detail["constraints"]["allergens"] == []

    # The stated allergy was also proposed for the profile: saving it there makes it hers in every session.
    proposal = page.locator("#proposals .proposal", has_text="Allergy: sesame")
    proposal.wait_for()
    screenshot(page, "2b-a-proposal-to-save")
    page.get_by_role("button", name="Save Allergy: sesame to your profile").click()
    proposal.wait_for(state="detached")
    assert page.locator("#proposals").is_hidden()
    me = server.get("/api/v1/me", headers=auth(alice_signs_in)).json()
    assert "sesame" in me["allergies"]
    assert me["proposals"] == []

    page.reload()  # the session comes back from the address, with its messages and card
    page.locator(".card .card-name", has_text=name).wait_for()
    assert page.locator("#constraints .chip").count() == 0
    page.locator("#session-list [aria-current=true]").wait_for()  # the list marks the open session
    assert page.troubles == []

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(base_url(server) + "/login/")
    page.goto(base_url(server) + "/")
    assert page.url == base_url(server) + "/login/?next=/"


def test_markup_from_the_model_and_the_catalog_shows_as_text_and_never_runs(
    page, alice_signs_in, app_server_factory, fake_openai
):
    CatalogItem.objects.update(name=Concat(Value(MARKUP), F("name")))
    answering(fake_openai, first_offered(f"Try this: {MARKUP}"))
    server = app_server_factory(workers=1, openai=fake_openai)
    sign_in(page, server)
    new_chat(page)
    say(page, "마포에서 매운 저녁 추천해 주세요")
    page.locator(".card").wait_for()

    assert page.locator(".card .card-name").inner_text().startswith(MARKUP)
    assert MARKUP in page.locator(".message.assistant .text").inner_text()
    assert page.locator("#messages img, #messages script").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.reload()  # and from the stored messages
    page.locator(".card").wait_for()
    assert page.locator("#messages img, #messages script").count() == 0
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "4-markup-as-text")


def test_errors_show_the_problems_text_and_a_failed_reply_can_be_regenerated(
    page, alice_signs_in, app_server_factory, fake_openai
):
    env = {"LLM_MAX_RETRIES": "0", "THROTTLE_TURNS_PER_MINUTE": "2"}
    server = app_server_factory(env, workers=1, openai=fake_openai)
    sign_in(page, server)
    new_chat(page)
    fake_openai.script(Fault.status(503))
    say(page, "Something spicy for dinner?")
    problem = page.get_by_role("alert")
    problem.wait_for()
    assert "could not be reached" in problem.inner_text() or "unavailable" in problem.inner_text().lower()
    screenshot(page, "5-model-unavailable")

    answering(fake_openai, first_offered("Here is one that fits."))
    page.get_by_role("button", name="Try again").click()
    page.locator(".card").wait_for()
    assert problem.is_hidden()

    say(page, "And one for tomorrow?")
    problem.wait_for()
    assert "Too many" in problem.inner_text()
    assert "Try again in" in problem.inner_text()
    assert page.get_by_role("button", name="Try again").is_hidden()
    assert page.get_by_label("Message", exact=True).input_value() == "And one for tomorrow?"  # not lost
    screenshot(page, "6-throttled")
