"""`python -m bench.seed`: the cast of tests/people.py (alice, bob, charlie) in the bench database, each with an API
token, printed as JSON (`[{"username", "customer_id", "token"}, ...]`).

`bench.common.prepared()` runs it in a Django process of the bench's environment (`common.django_env()`), so that the
benchmarks measure the same people the tests use. Idempotent: a person already there is kept as they are.
"""

import json

import django


def main() -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from rest_framework.authtoken.models import Token

    from customers.models import Customer
    from customers.services import catalog_demo_seed
    from tests.people import CAST

    rows = []
    with transaction.atomic():
        for person in CAST:
            user, created = get_user_model().objects.get_or_create(username=person.username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            customer, _ = Customer.objects.get_or_create(user=user, defaults=person.profile())
            token, _ = Token.objects.get_or_create(user=user)
            rows.append({"username": person.username, "customer_id": customer.pk, "token": token.key})
    catalog_demo_seed()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
