import json
import sys

from django.core.management.base import BaseCommand, CommandError

from customers import services as customers
from customers.errors import CatalogImportError


class Command(BaseCommand):
    help = (
        "Import catalog items from a JSON array or JSON Lines file: every row is validated first (nothing is written "
        "if one is bad), then items are upserted by external_id."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the catalog file (JSON array or JSON Lines, UTF-8)")
        parser.add_argument(
            "--deactivate-missing", action="store_true", help="deactivate active items that the file does not list"
        )
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, **options):
        progress = _progress_bar(sys.stderr) if sys.stderr.isatty() and not options["json"] else None
        try:
            result = customers.catalog_import(
                path=options["path"], deactivate_missing=options["deactivate_missing"], progress=progress
            )
        except CatalogImportError as exc:
            raise CommandError(f"nothing imported: {exc}") from None
        finally:
            if progress:
                sys.stderr.write("\n")
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        counts = {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "deactivated": result.deactivated,
            "warnings": len(result.warnings),
        }
        if options["json"]:
            self.stdout.write(json.dumps(counts))
        else:
            self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))


def _progress_bar(stream, width: int = 30):
    """A one-line bar redrawn in place, for a terminal only."""

    def show(done: int, total: int) -> None:
        share = done / total if total else 1.0
        filled = int(share * width)
        stream.write(f"\rimporting [{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows")
        stream.flush()

    return show
