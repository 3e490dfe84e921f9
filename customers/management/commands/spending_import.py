import json

from django.core.management.base import BaseCommand, CommandError

from customers import services as customers
from customers.services import SpendingImportError


class Command(BaseCommand):
    help = (
        'Record what customers spent per month from a JSON Lines file of {"username", "month": "YYYY-MM", "spent"}: '
        "every row is validated first (nothing is written if one is bad); a spending counts in its month only."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the spending file (JSON Lines, UTF-8)")
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, **options):
        try:
            result = customers.spending_import(path=options["path"])
        except SpendingImportError as exc:
            raise CommandError(f"nothing imported: {exc}") from None
        counts = {"updated": result.updated, "unchanged": result.unchanged, "superseded": result.superseded}
        if options["json"]:
            self.stdout.write(json.dumps(counts))
        else:
            self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
