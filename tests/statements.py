"""The SQL statements of a chat turn, named, each with the transaction it ran in: what tests/chat/test_turn_cost.py
asserts and bench/turn_cost.py prints.

`Statements` is a Django execute wrapper (`connection.execute_wrapper(Statements())`): it sees every statement Django
sends on the connection. A statement inside an atomic block belongs to the transaction open then, numbered from 1;
`transaction.on_commit` closes the number, so statements share one only when one commit made them durable.
"""

import re

from django.db import connection, transaction

# name -> (what it is, the pattern its SQL starts with)
KINDS = {
    "facts": (
        "the customer's row: rule facts, liked tags, recent tastes (customers/catalog/search.py facts)",
        r'SELECT "customers_customer"\."allergies" .* FROM "customers_customer" WHERE "customers_customer"\."id" = ',
    ),
    "ranking and names": (
        "the ranked candidates and the names to avoid, one row (customers/catalog/turn.py)",
        r"WITH met AS \(.*\) SELECT \(SELECT jsonb_agg\(to_jsonb\(r\).*\) AS r\) , ARRAY\( SELECT ",
    ),
    "activity": (
        "the session's counters, mood and last activity (customers/sessions.py)",
        r'UPDATE "customers_chatsession" SET "message_count" = ',
    ),
    "activity and cards": (
        "the session's counters (UPDATE ... RETURNING its customer), then the rows of the cards whose items still "
        "meet every rule against the current rows, items found in the statement (customers/catalog/"
        "recommendations.py insert)",
        r'WITH activity AS \(UPDATE "customers_chatsession" SET "message_count" = .* INSERT INTO '
        r"customers_recommendation .* JOIN \(SELECT .* FROM \"customers_catalogitem\" WHERE ",
    ),
    "proposals": (
        "the allergies and diets the turn stated, proposed for the customer's profile (customers/memory.py)",
        r"WITH v \(id, kind, code\) AS \(VALUES .*\) INSERT INTO customers_profileproposal ",
    ),
}


def kind(sql: str) -> str:
    """The name of the statement `sql` is, or "unexpected: <its start>"."""
    found = [name for name, (_, pattern) in KINDS.items() if re.match(pattern, sql, re.DOTALL)]
    return found[0] if len(found) == 1 else f"unexpected: {sql[:60]}"


class Statements:
    """Every statement sent while installed, as (name, transaction number or None for autocommit)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None]] = []
        self.transactions = 0
        self.open: int | None = None  # the transaction not committed yet

    def __call__(self, execute, sql, params, many, context):
        if connection.in_atomic_block and self.open is None:
            self.transactions += 1
            self.open = self.transactions
            transaction.on_commit(self._committed)
        self.sent.append((kind(sql), self.open if connection.in_atomic_block else None))
        return execute(sql, params, many, context)

    def _committed(self) -> None:
        self.open = None
