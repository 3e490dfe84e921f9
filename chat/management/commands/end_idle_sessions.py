from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from chat import lifecycle


class Command(BaseCommand):
    help = (
        "Summarize and end the open sessions idle for longer than --idle-minutes, before their conversation state "
        "expires from Redis. Safe to run from cron on several hosts at once; exits 1 if any session failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--idle-minutes", type=int, required=True, help="idle time after which a session ends")
        parser.add_argument("--limit", type=int, default=500, help="at most this many sessions per run (oldest first)")

    def handle(self, *args, **options):
        if options["idle_minutes"] < 1 or options["limit"] < 1:
            raise CommandError("--idle-minutes and --limit must be at least 1")
        report = lifecycle.sessions_idle_end(
            idle_for=timedelta(minutes=options["idle_minutes"]), limit=options["limit"]
        )
        self.stdout.write(f"ended {report.ended}, skipped {report.skipped}, failed {report.failed}")
        if report.failed:
            raise CommandError(f"{report.failed} idle session(s) could not be ended; they are retried on the next run")
