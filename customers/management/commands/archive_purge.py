from django.core.management.base import BaseCommand

from customers import services as customers


class Command(BaseCommand):
    help = (
        "Delete the archived transcripts of ended sessions older than CHAT_ARCHIVE_DAYS days (all of them when it "
        "is 0, the default: the archive is off). For cron, e.g. daily."
    )

    def handle(self, *args, **options):
        purged = customers.transcript_purge_expired()
        self.stdout.write(f"purged {purged} archived transcript(s)")
