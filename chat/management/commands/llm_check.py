from django.core.management.base import BaseCommand, CommandError

from llm import services as llm


class Command(BaseCommand):
    help = (
        "Check the model side: the tokenizer loads offline and the configured endpoint completes a turn's requests, "
        "in one piece and streamed, reporting the structured-output shape, streamed usage and the time to the first "
        "reply text (exit 1 if a step fails)."
    )

    def handle(self, *args, **options):
        result = llm.llm_check()
        self.stdout.write(f"provider: {result.provider}, model: {result.model}")
        for name, ok, detail in result.steps:
            self.stdout.write(f"  {'ok  ' if ok else 'FAIL'}  {name}: {detail}")
        if not result.ok:
            raise CommandError("LLM check failed", returncode=1)
        self.stdout.write("LLM check passed")
