import json

from django.core.management.base import BaseCommand

from customers import services as customers


class Command(BaseCommand):
    help = (
        "Create the demo customers (alice, bob, charlie) with API tokens if absent, import the demo catalog "
        "(idempotent), and print the tokens."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the customers and tokens as JSON")

    def handle(self, *args, **options):
        seeded = customers.demo_customers_seed()
        catalog = customers.catalog_demo_seed()
        if options["json"]:
            rows = [
                {"username": c.username, "display_name": c.display_name, "customer_id": c.customer_id, "token": c.token}
                for c in seeded
            ]
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            f"Demo catalog: {catalog.created} created, {catalog.updated} updated, {catalog.unchanged} unchanged."
        )
        self.stdout.write("Demo customers (use the token as `Authorization: Token <token>`):")
        for c in seeded:
            self.stdout.write(f"  {c.username:<10} {c.token}")
