"""A customer's spending belongs to a month of BUDGET_TIMEZONE (customers/spending.py): it reads 0 once that month
is over, until it is fed again by `spending_import`, the admin or `customer_update`; the remaining limit that the
catalog rules and the receipts use reads it so. Across a month boundary in both time zones the tests use."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache as django_cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django_redis import get_redis_connection

from customers import cache, services, spending
from customers.models import Customer
from customers.profiles import customer_update
from customers.services import SpendingImportError
from tests.customers.catalog_support import catalog_items_eligible

# 2026-11-30 15:30 UTC is 2026-12-01 00:30 in Seoul: November in UTC, December in Seoul.
BOUNDARY = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
SEOUL, UTC_ZONE = "Asia/Seoul", "UTC"


@pytest.mark.parametrize(
    ("zone", "month", "ends"),
    [
        (SEOUL, "2026-12", datetime(2026, 12, 31, 15, 0, tzinfo=UTC)),  # Seoul's 2027-01-01 00:00
        (UTC_ZONE, "2026-11", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_the_month_and_its_end_follow_the_budget_time_zone(zone, month, ends):
    with override_settings(BUDGET_TIMEZONE=zone):
        assert spending.month_of(BOUNDARY) == month
        assert spending.month_ends_at(BOUNDARY) == ends
        assert spending.month_of(ends - timedelta(microseconds=1)) == month
        assert spending.month_of(ends) != month


@pytest.mark.parametrize(
    ("zone", "november", "december"),
    [(SEOUL, 0, 50_000), (UTC_ZONE, 50_000, 0)],  # at the boundary instant: a new month in Seoul only
)
def test_a_spending_counts_in_its_own_month_only_across_the_boundary(zone, november, december):
    with override_settings(BUDGET_TIMEZONE=zone):
        assert spending.spent_now(50_000, "2026-11", now=BOUNDARY) == november
        assert spending.spent_now(50_000, "2026-12", now=BOUNDARY) == december
        assert spending.remaining(300_000, 50_000, "2026-11", now=BOUNDARY) == 300_000 - november
        assert spending.remaining(30_000, 50_000, "2026-12", now=BOUNDARY) == max(0, 30_000 - december)


def _last_month() -> str:
    first = datetime.strptime(spending.this_month(), "%Y-%m").replace(tzinfo=UTC)
    return spending.month_of(first - timedelta(days=15))


@pytest.mark.parametrize("zone", [SEOUL, UTC_ZONE])
def test_last_months_spending_reads_0_in_the_profile_and_the_catalog_rules_until_fed(zone, bob, on_commit, tmp_path):
    item = tmp_path / "catalog.jsonl"
    row = {"external_id": "hanwoo-set", "kind": "dish", "name": "Hanwoo set", "price": 100_000, "allergens": []}
    item.write_text(json.dumps(row) + "\n")
    services.catalog_import(path=item)
    with override_settings(BUDGET_TIMEZONE=zone):
        # bob: 300,000 a month, 280,000 spent, stamped last month: a new month, nothing spent yet
        Customer.objects.filter(pk=bob.customer_id).update(spent_month=_last_month())
        profile = services.customer_profile_get(customer_id=bob.customer_id)
        assert (profile.spent_this_month_minor, profile.remaining_limit_minor) == (0, 300_000)
        eligible = catalog_items_eligible(customer_id=bob.customer_id, external_ids=["hanwoo-set"])
        assert eligible == {"hanwoo-set"}

        with on_commit():  # fed for this month: the cached profile is dropped on commit
            customer_update(customer_id=bob.customer_id, spent_this_month_minor=250_000)
        assert Customer.objects.get(pk=bob.customer_id).spent_month == spending.this_month()
        profile = services.customer_profile_get(customer_id=bob.customer_id)
        assert (profile.spent_this_month_minor, profile.remaining_limit_minor) == (250_000, 50_000)
        assert not catalog_items_eligible(customer_id=bob.customer_id, external_ids=["hanwoo-set"])


def test_a_cached_profile_never_outlives_its_month(alice):
    services.customer_profile_get(customer_id=alice.customer_id)
    redis = get_redis_connection("default")
    key = django_cache.make_key(cache.CUSTOMER.key(alice.customer_id))
    month_left = spending.month_ends_at(datetime.now(UTC)) - datetime.now(UTC)
    assert 0 < redis.pttl(key) <= min(600_000, month_left.total_seconds() * 1000)


def test_an_entry_whose_moment_passed_while_loading_is_not_stored(alice):
    """A profile read just before midnight of the month's end and stored after it would carry last month's
    spending into the new month: the entry's end is taken before the load, and an entry already past it is not
    stored."""
    past = cache.CacheSpec("spending-test:v1", int, until=lambda moment: moment - timedelta(seconds=1))
    assert cache.get_or_load(past, 1, lambda: 7) == 7
    [value] = cache.get_many([(past, 1)])
    assert value is cache.MISS


# --- spending_import ------------------------------------------------------------------------------------------


def _file(tmp_path, *rows, name="spending.jsonl"):
    path = tmp_path / name
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def _stored(*customers):
    return [
        tuple(Customer.objects.filter(pk=c.customer_id).values_list("spent_this_month_minor", "spent_month").get())
        for c in customers
    ]


def test_the_import_records_the_latest_month_per_customer_and_is_idempotent(alice, bob, charlie, on_commit, tmp_path):
    now, last = spending.this_month(), _last_month()
    services.customer_profile_get(customer_id=alice.customer_id)  # warm: dropped on commit
    path = _file(
        tmp_path,
        {"username": "alice", "month": now, "spent": 90_000},
        {"username": "alice", "month": last, "spent": 410_000},  # older than her row for this month
        {"username": "bob", "month": last, "spent": 300_000},  # older than bob's stored month
        {"username": "charlie", "month": now, "spent": 0},  # what is stored already
    )
    with on_commit():
        result = services.spending_import(path=path)
    assert (result.updated, result.unchanged, result.superseded) == (1, 1, 2)
    assert _stored(alice, bob, charlie) == [(90_000, now), (280_000, now), (0, now)]
    assert services.customer_profile_get(customer_id=alice.customer_id).remaining_limit_minor == 410_000

    again = services.spending_import(path=path)
    assert (again.updated, again.unchanged, again.superseded) == (0, 2, 2)


def test_last_months_final_figures_read_after_a_new_month_are_recorded_and_read_0(alice, tmp_path):
    last = _last_month()
    Customer.objects.filter(pk=alice.customer_id).update(spent_month=_last_month(), spent_this_month_minor=1)
    services.spending_import(path=_file(tmp_path, {"username": "alice", "month": last, "spent": 480_000}))
    assert _stored(alice) == [(480_000, last)]
    assert services.customer_profile_get(customer_id=alice.customer_id).spent_this_month_minor == 0


def _next_month() -> str:
    first = datetime.strptime(spending.this_month(), "%Y-%m").replace(tzinfo=UTC)
    return (first + timedelta(days=45)).strftime("%Y-%m")


@pytest.mark.parametrize(
    ("bad_row", "where"),
    [
        ("not json", "row 2: json: malformed JSON"),
        ("[" * 4000, "row 2: json: malformed JSON (nested too deeply)"),
        ("[" * 5000, "row 2: row: a line longer than 4096 characters"),
        ('"alice"', "row 2: row: must be a JSON object"),
        ({"username": "alice", "month": "2026-13", "spent": 1}, "row 2: month: must be a month"),
        ({"username": "alice", "month": "2026-1", "spent": 1}, "row 2: month: must be a month"),
        ({"username": "alice", "month": "NEXT", "spent": 1}, "row 2: month: NEXT has not begun"),
        ({"username": "alice", "month": "NOW", "spent": -1}, "row 2: spent: must be a whole number"),
        ({"username": "alice", "month": "NOW", "spent": 1.5}, "row 2: spent: must be a whole number"),
        ({"username": "alice", "month": "NOW", "spent": True}, "row 2: spent: must be a whole number"),
        ({"username": "alice", "month": "NOW", "spent": 2**63}, "row 2: spent: must be a whole number"),
        ({"username": "alice", "month": "NOW"}, "row 2: spent: required"),
        ({"username": "alice", "month": "NOW", "spent": 1, "note": "x"}, "row 2: note: unknown field"),
        ({"username": "al\x00ice", "month": "NOW", "spent": 1}, "row 2: username: must be a username"),
        ({"username": "nobody", "month": "NOW", "spent": 1}, "row 2: username: no customer named 'nobody'"),
        ({"username": "bob", "month": "NOW", "spent": 2}, "row 2: month: 'bob' and NOW are on row 1 already"),
    ],
)
def test_a_bad_row_is_named_with_its_field_and_nothing_is_written(alice, bob, tmp_path, bad_row, where):
    now = spending.this_month()
    if isinstance(bad_row, dict):
        bad_row = {k: (v.replace("NOW", now).replace("NEXT", _next_month()) if isinstance(v, str) else v)
                   for k, v in bad_row.items()}  # fmt: skip
    where = where.replace("NOW", now).replace("NEXT", _next_month())
    before = _stored(alice, bob)
    path = _file(tmp_path, {"username": "bob", "month": now, "spent": 1}, bad_row)
    with pytest.raises(SpendingImportError) as error:
        services.spending_import(path=path)
    assert str(error.value).startswith(where)
    assert _stored(alice, bob) == before
    with pytest.raises(CommandError, match=re.escape(f"nothing imported: {where}")):
        call_command("spending_import", str(path))


def test_the_command_prints_its_counts_as_json(alice, tmp_path, capsys):
    path = _file(tmp_path, {"username": "alice", "month": spending.this_month(), "spent": 1})
    call_command("spending_import", str(path), "--json")
    assert json.loads(capsys.readouterr().out) == {"updated": 1, "unchanged": 0, "superseded": 0}
    assert _stored(alice) == [(1, spending.this_month())]


def test_an_unreadable_file_is_named(tmp_path):
    with pytest.raises(SpendingImportError, match=r"^file: cannot read it"):
        services.spending_import(path=tmp_path / "missing.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"username": "\xe9"}\n')
    with pytest.raises(SpendingImportError, match=r"^file: not UTF-8 text"):
        services.spending_import(path=tmp_path / "latin1.jsonl")
