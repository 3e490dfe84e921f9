import asyncio
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chat import lifecycle, turns
from chat.errors import ChatError, model_failure_problem, problem_for
from customers import services as customers
from customers.services import CustomerNotFound, SessionNotFound
from llm.services import MOODS, Delta, ModelError, TurnContext

HELP_LINE = "Type a message, or /mood <mood>, /retry, /end (summarize and close), /quit (leave it open)."


class Command(BaseCommand):
    help = "Chat in the terminal as a customer, through the same turn flow as the API; replies stream as produced."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="the customer's username")
        parser.add_argument("--session", type=UUID, help="continue this open session (default: open a new one)")

    def handle(self, *args, **options):
        self.stdin = options.get("stdin") or sys.stdin
        try:
            customer_id = customers.customer_id_get_by_username(username=options["user"])
            session_id = self._session(customer_id, options["session"])
        except CustomerNotFound:
            raise CommandError(f"no customer with username {options['user']!r}") from None
        except SessionNotFound:
            raise CommandError(f"{options['user']} has no session {options['session']}") from None
        except Exception as exc:  # a clear line instead of a traceback (unexpected ones are logged by type)
            raise CommandError(problem_for(exc).detail) from None
        self.stdout.write(f"Chatting as {options['user']} in session {session_id}.\n{HELP_LINE}")
        with console_logs_at_least(logging.WARNING):
            try:
                while self._one_line(customer_id, session_id):
                    pass
            except KeyboardInterrupt:
                self.stdout.write("")
                self._left_open(session_id)

    def _session(self, customer_id: int, session_id: UUID | None) -> UUID:
        if session_id is None:
            return lifecycle.session_open(customer_id=customer_id, title="Terminal chat").info.session_id
        lifecycle.session_require_open(customer_id=customer_id, session_id=session_id)
        return session_id

    def _one_line(self, customer_id: int, session_id: UUID) -> bool:
        """Read and act on one line; False when the conversation is over."""
        self.stdout.write("you> ", ending="")
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:  # end of input
            self.stdout.write("")
            self._left_open(session_id)
            return False
        text = line.strip()
        try:
            return self._act(customer_id, session_id, text)
        except ModelError as exc:
            self.stderr.write(f"error: {model_failure_problem(exc, retry_hint='type /retry to try again.').detail}")
        except Exception as exc:  # every failure is told in one line and the chat goes on
            self.stderr.write(f"error: {problem_for(exc).detail}")
        return True

    def _act(self, customer_id: int, session_id: UUID, text: str) -> bool:
        command, _, argument = text.partition(" ")
        if not text:
            return True
        if command == "/quit":
            self._left_open(session_id)
            return False
        if command == "/end":
            session = lifecycle.session_end(customer_id=customer_id, session_id=session_id)
            self.stdout.write(f"Session ended. Summary:\n{session.info.summary}")
            return False
        if command == "/mood":
            mood = argument.strip()
            if mood not in MOODS:
                self.stderr.write(f"error: mood must be one of {', '.join(MOODS)}")
                return True
            lifecycle.session_mood_set(customer_id=customer_id, session_id=session_id, mood=mood)
            self.stdout.write(f"(mood set to {mood})")
            return True
        if command == "/retry":
            turn = turns.turn_regenerate(customer_id=customer_id, session_id=session_id)
            self.stdout.write(f"bot> {turn.assistant_message.content}")
            return True
        if text.startswith("/"):
            self.stderr.write(f"error: unknown command {command}. {HELP_LINE}")
            return True
        if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise ChatError(
                "message_too_long", f"The message is longer than {settings.CHAT_MAX_MESSAGE_CHARS} characters."
            )
        context = turns.turn_prepare(customer_id=customer_id, session_id=session_id, text=text)
        asyncio.run(self._stream_reply(session_id, text, context))
        return True

    async def _stream_reply(self, session_id: UUID, text: str, context: TurnContext) -> None:
        self.stdout.write("bot> ", ending="")
        try:
            async for item in turns.turn_send_stream(session_id=session_id, text=text, context=context):
                if isinstance(item, Delta):
                    self.stdout.write(item.text, ending="")
                    self.stdout.flush()
        finally:
            self.stdout.write("")

    def _left_open(self, session_id: UUID) -> None:
        self.stdout.write(f"Session {session_id} stays open; continue it with --session {session_id}.")


@contextmanager
def console_logs_at_least(level: int) -> Iterator[None]:
    """Keep the per-turn info lines out of the conversation: while chatting, the console log handlers (stderr)
    pass only warnings and errors; file handlers keep their level."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
    ]
    before = [handler.level for handler in handlers]
    for handler in handlers:
        handler.setLevel(max(handler.level, level))
    try:
        yield
    finally:
        for handler, old in zip(handlers, before, strict=True):
            handler.setLevel(old)
