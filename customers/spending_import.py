"""`spending_import`: a JSON Lines file of `{"username": str, "month": "YYYY-MM", "spent": int}`, what each customer
spent in a month (minor units of their currency), validated whole, then written in one transaction.

Every row is checked first (an object with exactly those fields; a customer's username; a month that has begun, in
BUDGET_TIMEZONE; an integer amount, 0 or more; no username and month twice): the first bad row fails the import
with its 1-based number and field, and nothing is written. Then, per customer, the row of the latest month is
written over the spending and its month, unless the customer's spending already belongs to a later month (the row
is superseded); a row equal to what is stored changes nothing. So the import is idempotent, and a file of last
month's final figures read after a new month has begun is recorded and reads 0, as that month is over. The
customers' rows are locked while they are compared and written, and their cached profiles dropped on commit.

Memory: every valid row, a small tuple each (one per customer and month in the file).
"""

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from customers import cache, jsonlines, spending
from customers.data import SpendingImportResult
from customers.errors import SpendingImportError
from customers.models import Customer

FIELDS = ("username", "month", "spent")
MAX_LINE_CHARS = 4096  # far above any valid row
MAX_SPENT = 2**63 - 1  # the column is a bigint
_LOCK_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    month: str
    spent: int


def import_file(path: str | Path) -> SpendingImportResult:
    """Validate the whole file, then record each customer's latest month. Raises SpendingImportError (nothing is
    written then)."""
    latest = _validated_rows(path)
    superseded = sum(len(rows) - 1 for rows in latest.values())
    newest = {username: max(rows, key=lambda row: row.month) for username, rows in latest.items()}
    username_field = f"user__{get_user_model().USERNAME_FIELD}"
    counts = {"updated": 0, "unchanged": 0, "superseded": superseded}
    with transaction.atomic():
        customers: dict[str, Customer] = {}
        names = sorted(newest)
        for start in range(0, len(names), _LOCK_CHUNK):
            chunk = names[start : start + _LOCK_CHUNK]
            found = Customer.objects.select_for_update(of=("self",)).filter(**{f"{username_field}__in": chunk})
            customers.update({customer.user.get_username(): customer for customer in found.select_related("user")})
        if missing := [name for name in names if name not in customers]:
            first = min((newest[name].number, name) for name in missing)
            raise SpendingImportError(first[0], "username", f"no customer named {first[1]!r}")
        changed: list[Customer] = []
        for name, row in newest.items():
            customer = customers[name]
            if customer.spent_month > row.month:
                counts["superseded"] += 1
            elif (customer.spent_month, customer.spent_this_month_minor) == (row.month, row.spent):
                counts["unchanged"] += 1
            else:
                customer.spent_month, customer.spent_this_month_minor = row.month, row.spent
                changed.append(customer)
        Customer.objects.bulk_update(changed, ["spent_month", "spent_this_month_minor"], batch_size=_LOCK_CHUNK)
        counts["updated"] = len(changed)
        # bulk_update sends no post_save: the cached profiles are dropped here, once the transaction commits.
        cache.invalidate_on_commit([(cache.CUSTOMER, customer.pk) for customer in changed])
    return SpendingImportResult(**counts)


def _validated_rows(path: str | Path) -> dict[str, list[_Row]]:
    """Every row of the file, checked, by username. Raises SpendingImportError for the first bad one."""
    now_month = spending.this_month()
    rows: dict[str, list[_Row]] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, raw in _lines(path):
        username, row = _validated(number, raw, now_month)
        if (earlier := seen.get((username, row.month))) is not None:
            raise SpendingImportError(number, "month", f"{username!r} and {row.month} are on row {earlier} already")
        seen[(username, row.month)] = number
        rows.setdefault(username, []).append(row)
    return rows


def _validated(number: int, raw: object, now_month: str) -> tuple[str, _Row]:
    if not isinstance(raw, dict):
        raise SpendingImportError(number, "row", "must be a JSON object")
    if unknown := sorted(set(raw) - set(FIELDS)):
        raise SpendingImportError(number, unknown[0], f"unknown field (the fields are {', '.join(FIELDS)})")
    for name in FIELDS:
        if name not in raw:
            raise SpendingImportError(number, name, "required")
    username, month, spent = (raw[name] for name in FIELDS)
    if not isinstance(username, str) or not username or len(username) > 150 or "\x00" in username:
        raise SpendingImportError(number, "username", "must be a username (1 to 150 characters)")
    if not isinstance(month, str) or not spending.MONTH.fullmatch(month):
        raise SpendingImportError(number, "month", 'must be a month as "YYYY-MM"')
    if month > now_month:
        raise SpendingImportError(number, "month", f"{month} has not begun (it is {now_month} now)")
    if type(spent) is not int or not 0 <= spent <= MAX_SPENT:
        raise SpendingImportError(number, "spent", "must be a whole number of minor units, 0 or more")
    return username, _Row(number=number, month=month, spent=spent)


def _lines(path: str | Path):
    """(1-based row number, decoded value) of each non-blank line."""
    try:
        handle = Path(path).open(encoding="utf-8")  # noqa: SIM115 - closed by the `with` below
    except OSError as exc:
        raise SpendingImportError(0, "file", f"cannot read it ({exc.strerror or type(exc).__name__})") from None
    with handle:
        try:
            yield from jsonlines.rows(handle, error=SpendingImportError, max_chars=MAX_LINE_CHARS)
        except UnicodeDecodeError:
            raise SpendingImportError(0, "file", "not UTF-8 text") from None
