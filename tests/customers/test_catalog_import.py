"""`catalog_import`: every contract error names its row and field and writes nothing; upserts; both file formats;
the demo file; bounded memory for 100,000 rows."""

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import services
from customers.catalog import importer, vocabulary
from customers.catalog import items as catalog_items
from customers.errors import CatalogImportError
from customers.models import CatalogItem

pytestmark = pytest.mark.django_db


def row(external_id: str = "mapo:1", **fields: object) -> dict[str, object]:
    base = {"external_id": external_id, "kind": "dish", "name": "떡볶이", "price": 5000, "tags": ["spicy", "매운맛"]}
    return {**base, **fields}


def write_lines(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def run(path: Path, *args: str) -> dict[str, int]:
    out = io.StringIO()
    call_command("catalog_import", str(path), "--json", *args, stdout=out)
    return json.loads(out.getvalue())


GOOD = [row("a:1"), row("a:2", name="순대", allergens=["pork", "wheat"]), row("b", kind="place", name="하늘공원")]

BAD_ROWS = [  # (the bad row, the field named, words of the message)
    ({"kind": "dish", "name": "x"}, "external_id", "missing"),
    (row(colour="red"), "colour", "unknown field"),
    (row(kind="shop"), "kind", "must be one of"),
    (row(name=""), "name", "blank"),
    (row(name="가" * 201), "name", "longer than 200"),
    (row(description="d" * 2001), "description", "longer than 2000"),
    (row(area="a" * 101), "area", "longer than 100"),
    (row(price=-1), "price", "at least 0"),
    (row(price=12.5), "price", "whole number"),
    (row(price="5000"), "price", "whole number"),
    (row(currency="won"), "currency", "ISO 4217"),
    (row(tags="spicy"), "tags", "list of strings"),
    (row(tags=["t" * 41]), "tags", "longer than 40"),
    (row(allergens=["peanuts"]), "allergens", "unknown code 'peanuts'"),
    (row(diets=["keto"]), "diets", "unknown code 'keto'"),
    (row(kind="product"), "food", "required for product"),
    (row(food="yes"), "food", "true or false"),
    (row(active=1), "active", "true or false"),
    (row("has space"), "external_id", "visible ASCII"),
    (row("x" * 65), "external_id", "visible ASCII"),
    (row("한글"), "external_id", "visible ASCII"),
    (["not", "an", "object"], "row", "JSON object"),
]


@pytest.mark.parametrize(("bad", "field", "words"), BAD_ROWS, ids=[f"{f}-{w}" for _, f, w in BAD_ROWS])
def test_a_bad_row_is_named_with_its_field_and_nothing_is_written(tmp_path, bad, field, words):
    path = write_lines(tmp_path / "c.jsonl", [*GOOD, bad])
    with pytest.raises(CommandError) as caught:
        run(path)
    assert f"row 4: {field}: " in str(caught.value)
    assert words in str(caught.value)
    assert CatalogItem.objects.count() == 0


def test_malformed_json_is_named_by_row(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(row("a")) + "\n\n" + '{"external_id": "b", "kind": \n', encoding="utf-8")
    with pytest.raises(CatalogImportError) as caught:
        services.catalog_import(path=path)
    assert (caught.value.row, caught.value.field) == (2, "json")
    assert "malformed JSON" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ('[{"external_id": "a", "kind": "place", "name": "x"}, {"external_id": }]', 2),
        ('[{"external_id": "a", "kind": "place", "name": "x"} {"external_id": "b"}]', 1),
        ('[{"external_id": "a", "kind": "place", "name": "x"},', 2),
        ('[{"external_id": "a", "kind": "place", "name": "x"}] trailing', 1),
        ("[,]", 1),
    ],
)
def test_a_malformed_json_array_is_named_by_row(tmp_path, text, number):
    path = tmp_path / "c.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogImportError) as caught:
        services.catalog_import(path=path)
    assert (caught.value.row, caught.value.field) == (number, "json")
    assert CatalogItem.objects.count() == 0


def test_a_duplicate_external_id_in_the_file_is_named(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", [row("a"), row("b"), row("a", name="again")])
    with pytest.raises(CatalogImportError, match=r"row 3: external_id: duplicate 'a' in the file"):
        services.catalog_import(path=path)
    assert CatalogItem.objects.count() == 0


def test_an_unreadable_or_non_utf8_file_is_refused(tmp_path):
    with pytest.raises(CatalogImportError, match="file: cannot read it"):
        services.catalog_import(path=tmp_path / "missing.jsonl")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(row(name="caf\u00e9", tags=[]), ensure_ascii=False).encode("latin-1"))
    with pytest.raises(CatalogImportError, match="not UTF-8"):
        services.catalog_import(path=path)


def test_the_command_exits_non_zero_on_a_bad_file(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", [row(price=-5)])
    completed = subprocess.run(
        [sys.executable, "manage.py", "catalog_import", str(path), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=_subprocess_env(),
    )
    assert completed.returncode != 0
    assert "nothing imported: row 1: price:" in completed.stderr
    assert completed.stdout == ""


def _subprocess_env() -> dict[str, str]:
    import os

    from django.conf import settings

    db = settings.DATABASES["default"]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    if db["ENGINE"].endswith("postgresql"):  # the test database, not the developer's
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return env


def test_upsert_by_external_id_counts_created_updated_unchanged(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", GOOD)
    assert run(path) == {"created": 3, "updated": 0, "unchanged": 0, "deactivated": 0, "warnings": 0}
    assert run(path) == {"created": 0, "updated": 0, "unchanged": 3, "deactivated": 0, "warnings": 0}
    changed = [GOOD[0], {**GOOD[1], "price": 6000}, GOOD[2], row("c", name="김밥")]
    write_lines(path, changed)
    assert run(path) == {"created": 1, "updated": 1, "unchanged": 2, "deactivated": 0, "warnings": 0}
    item = CatalogItem.objects.get(external_id="a:2")
    assert (item.price_minor, item.allergens, item.allergen_mask) == (6000, ["wheat", "pork"], (1 << 4) | (1 << 11))


def test_defaults_follow_the_contract(tmp_path):
    rows = [
        {"external_id": "r", "kind": "restaurant", "name": "식당"},
        {"external_id": "d", "kind": "dish", "name": "요리"},
        {"external_id": "a", "kind": "activity", "name": "활동"},
        {"external_id": "p", "kind": "place", "name": "장소"},
        {"external_id": "g", "kind": "product", "name": "상품", "food": False},
    ]
    run(write_lines(tmp_path / "c.jsonl", rows))
    found = {i.external_id: (i.food, i.active, i.currency, i.price_minor) for i in CatalogItem.objects.all()}
    assert found == {
        "r": (True, True, "KRW", None),
        "d": (True, True, "KRW", None),
        "a": (False, True, "KRW", None),
        "p": (False, True, "KRW", None),
        "g": (False, True, "KRW", None),
    }


def test_deactivate_missing(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", GOOD)
    run(path)
    write_lines(path, GOOD[:1])
    assert run(path, "--deactivate-missing") == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "deactivated": 2,
        "warnings": 0,
    }
    assert set(CatalogItem.objects.filter(active=True).values_list("external_id", flat=True)) == {"a:1"}
    assert run(path, "--deactivate-missing")["deactivated"] == 0


def test_a_json_array_read_across_chunk_boundaries_equals_json_lines(tmp_path, monkeypatch):
    rows = [row(f"id-{n}", name=f"이름 {n}", price=n * 1001) for n in range(60)]
    array = tmp_path / "c.json"
    array.write_text("\ufeff [\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n]\n", "utf-8")
    monkeypatch.setattr(importer, "CHUNK_CHARS", 7)  # every row and number is cut somewhere
    decoded = list(importer._rows(array))
    assert decoded == list(enumerate(rows, 1))
    assert run(array)["created"] == 60
    assert CatalogItem.objects.get(external_id="id-59").price_minor == 59 * 1001


def test_an_empty_array_or_file_imports_nothing(tmp_path):
    for text in ("[]", " [ ] ", "", "\n\n"):
        path = tmp_path / "c.json"
        path.write_text(text, encoding="utf-8")
        assert run(path) == {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0, "warnings": 0}


def test_the_demo_catalog_imports_and_is_idempotent():
    first = services.catalog_demo_seed()
    assert first.created >= 150
    assert services.catalog_demo_seed().unchanged == first.created
    kinds = set(CatalogItem.objects.values_list("kind", flat=True))
    assert kinds == {"restaurant", "dish", "product", "activity", "place"}
    areas = set(CatalogItem.objects.values_list("area", flat=True))
    assert {"Seoul, Mapo-gu", "Seoul, Gangnam-gu", "Busan, Haeundae-gu"} <= areas
    # Honest allergens, spot-checked: peanut sauce carries peanut, tteokbokki wheat, seafood pancake all four.
    assert "peanut" in CatalogItem.objects.get(external_id="mapo-peanut-noodle:1").allergens
    assert "wheat" in CatalogItem.objects.get(external_id="mapo-yeonnam-tteokbokki:1").allergens
    pajeon = CatalogItem.objects.get(external_id="mapo-hanok-makgeolli:pajeon")
    assert {"crustacean", "mollusc", "wheat", "egg"} <= set(pajeon.allergens)


def test_a_progress_callback_sees_every_batch(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 2)
    seen = []
    path = write_lines(tmp_path / "c.jsonl", [row(f"r{n}") for n in range(5)])
    services.catalog_import(path=path, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, pathlib, sys
    import django
    django.setup()
    from customers import services

    def status(name):  # kB figures of /proc/self/status
        lines = pathlib.Path("/proc/self/status").read_text().splitlines()
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(name + ":"))

    services.catalog_import(path=sys.argv[2])  # warm up: imports, connection, statement caches
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident size (VmHWM)
    before = status("VmRSS")
    result = services.catalog_import(path=sys.argv[1])
    print(json.dumps({"created": result.created, "growth": status("VmHWM") - before}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures with Linux's /proc")
@pytest.mark.django_db(transaction=True)
def test_100000_rows_import_in_bounded_memory(tmp_path):
    """The file is about 20 MB, and its rows decoded at once would take several times that (about 1.5 KB each as
    Python objects); the import's peak resident memory grows by little more than the id set plus one batch."""
    path, warm_up = tmp_path / "big.jsonl", tmp_path / "small.jsonl"
    write_lines(warm_up, [row("warm-up")])
    with path.open("w", encoding="utf-8") as out:
        for n in range(100_000):
            item = row(
                f"bench-{n:06d}",
                name=f"메뉴 {n} spicy noodles",
                description="매콤한 국물과 쫄깃한 면, 오래 끓인 육수.",
                area=("Seoul, Mapo-gu", "Seoul, Gangnam-gu", "Busan, Haeundae-gu")[n % 3],
                price=1000 + n % 50_000,
                allergens=["wheat", "soy"][: n % 3],
            )
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(path), str(warm_up)],
        capture_output=True,
        text=True,
        check=False,
        env=_subprocess_env(),
        timeout=110,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["created"] == 100_000
    assert result["growth"] < 48 * 2**20, f"peak resident memory grew by {result['growth'] / 2**20:.0f} MiB"
    CatalogItem.objects.all().delete()


def test_absent_or_null_allergens_are_unknown_and_an_empty_list_declares_none(tmp_path):
    rows = [
        row("absent"),
        row("null", allergens=None),
        row("none", allergens=[]),
        row("walk", kind="activity", name="산책"),
        row("walk-peanut", kind="activity", name="땅콩 농장 체험", allergens=None),
    ]
    run(write_lines(tmp_path / "c.jsonl", rows))
    found = {i.external_id: (i.allergens, i.allergen_mask) for i in CatalogItem.objects.all()}
    assert found == {
        "absent": (None, catalog_items.ALL_ALLERGENS),  # food of unknown allergens: may contain any
        "null": (None, catalog_items.ALL_ALLERGENS),
        "none": ([], 0),
        "walk": (None, 0),  # not food: unknown binds nothing, only what its text mentions
        "walk-peanut": (None, vocabulary.ALLERGEN_BITS["peanut"]),
    }


def test_a_row_whose_text_mentions_an_undeclared_allergen_is_a_warning_not_an_error(tmp_path):
    rows = [
        row("noodle", name="땅콩국수", allergens=["wheat"]),
        row("fritter", name="모둠튀김", description="새우, 김말이", tags=["shrimp"], allergens=["wheat", "crustacean"]),
        row("shop", name="동네 가게", allergens=[]),  # 게 (crab) inside a word mentions nothing
    ]
    path = write_lines(tmp_path / "c.jsonl", rows)
    out, err = io.StringIO(), io.StringIO()
    call_command("catalog_import", str(path), "--json", stdout=out, stderr=err)
    assert json.loads(out.getvalue()) == {"created": 3, "updated": 0, "unchanged": 0, "deactivated": 0, "warnings": 1}
    assert err.getvalue().splitlines() == [
        "warning: row 1 (noodle): its text mentions peanut, which `allergens` does not declare"
    ]
    noodle = CatalogItem.objects.get(external_id="noodle")
    assert (noodle.mentions, noodle.allergen_mask) == (["peanut"], vocabulary.allergen_mask(["peanut", "wheat"]))


def test_a_new_row_is_stored_as_saving_the_model_stores_it(tmp_path):
    """The import inserts new rows its own way (by COPY on PostgreSQL): every column holds what the model's `save()`
    stores for the same row, unknown allergens as SQL NULL (not a JSON null), and text that COPY must escape (a tab,
    a line break, a backslash, quotes) as written."""
    odd = 'a\\b\t"c"\nd'
    rows = [
        row("unknown"),
        row("none", allergens=[], description=odd, tags=[odd, "땅콩"], area="Seoul, Mapo-gu"),
        {"external_id": "shop", "kind": "restaurant", "name": "국수집", "allergens": ["wheat"]},
        row("dish", venue="shop", allergens=["wheat"], price=None, currency="USD", diets=["vegan"], active=False),
    ]
    run(write_lines(tmp_path / "c.jsonl", rows))
    for source in rows:
        fields = catalog_items.validate(source)
        venue = CatalogItem.objects.get(external_id=fields["venue"]) if fields["venue"] else None
        CatalogItem(**{**fields, "external_id": f"twin-{fields['external_id']}", "venue": venue}).save()
    # Every column but the key, the external id and the timestamps (the database refuses them null).
    ignored = ("id", "external_id", "created_at", "updated_at")
    columns = [f.name for f in CatalogItem._meta.concrete_fields if f.name not in ignored]
    stored = {i.pop("external_id"): i for i in CatalogItem.objects.values("external_id", *columns)}
    for source in rows:
        assert stored[source["external_id"]] == stored[f"twin-{source['external_id']}"]
    unknown = CatalogItem.objects.filter(allergens__isnull=True).values_list("external_id", flat=True)
    assert sorted(unknown) == ["twin-unknown", "unknown"]
    assert CatalogItem.objects.get(external_id="none").tags == [odd, "땅콩"]


VENUES = [
    row("mapo-noodle:1", venue="mapo-noodle", allergens=["wheat"]),  # before its restaurant in the file
    {"external_id": "mapo-noodle", "kind": "restaurant", "name": "국수집", "allergens": []},
    row("mapo-noodle:2", venue="mapo-noodle", allergens=["wheat", "egg"]),
]


def test_a_dish_is_linked_to_its_restaurant_in_the_file_or_the_catalog(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", VENUES)
    assert run(path)["created"] == 3
    restaurant = CatalogItem.objects.get(external_id="mapo-noodle")
    assert sorted(restaurant.dishes.values_list("external_id", flat=True)) == ["mapo-noodle:1", "mapo-noodle:2"]
    assert run(path)["unchanged"] == 3
    # A later file may name a restaurant the catalog already holds.
    write_lines(path, [row("mapo-noodle:3", venue="mapo-noodle", allergens=[])])
    assert run(path)["created"] == 1
    assert CatalogItem.objects.get(external_id="mapo-noodle:3").venue == restaurant
    # Moving a dish off its venue is an update.
    write_lines(path, [row("mapo-noodle:3", allergens=[])])
    assert run(path)["updated"] == 1
    assert CatalogItem.objects.get(external_id="mapo-noodle:3").venue is None


def test_dishes_of_a_restaurant_in_the_same_batch_are_inserted_with_their_venue_in_file_order(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", VENUES)
    with CaptureQueriesContext(connection) as queries:
        assert run(path)["created"] == 3
    # PostgreSQL: both dishes, before and after their restaurant in the batch, are inserted linked (no update rewrites
    # them); elsewhere they are linked once the batch is written.
    updates = [query for query in queries.captured_queries if query["sql"].startswith("UPDATE")]
    assert len(updates) == (0 if connection.vendor == "postgresql" else 1)
    rows = CatalogItem.objects.order_by("pk").values_list("external_id", "venue__external_id")
    assert list(rows) == [("mapo-noodle:1", "mapo-noodle"), ("mapo-noodle", None), ("mapo-noodle:2", "mapo-noodle")]


@pytest.mark.parametrize(
    ("rows", "number", "words"),
    [
        ([row("d", venue="nowhere")], 1, "'nowhere' is no restaurant of the file or the catalog"),
        ([row("p", kind="place", name="공원"), row("d", venue="p")], 2, "'p' is not a restaurant"),
        ([{"external_id": "r", "kind": "restaurant", "name": "r", "venue": "x"}], 1, "only a dish has a venue"),
        ([row("d", venue="d")], 1, "its own venue"),
        ([row("d", venue=7)], 1, "external_id of a restaurant"),
    ],
)
def test_a_bad_venue_names_its_row_and_nothing_is_written(tmp_path, rows, number, words):
    CatalogItem.objects.create(external_id="elsewhere", kind="place", name="not a restaurant")
    with pytest.raises(CommandError) as caught:
        run(write_lines(tmp_path / "c.jsonl", [*GOOD, *rows]))
    assert f"row {len(GOOD) + number}: venue: " in str(caught.value)
    assert words in str(caught.value)
    assert CatalogItem.objects.count() == 1


def test_the_demo_catalog_declares_every_food_item_links_every_dish_and_warns_of_nothing():
    result = services.catalog_demo_seed()
    assert result.warnings == ()
    assert not CatalogItem.objects.filter(food=True, allergens__isnull=True).exists()
    assert not CatalogItem.objects.filter(kind="dish", venue__isnull=True).exists()
    noodle = CatalogItem.objects.get(external_id="mapo-peanut-noodle")
    assert "peanut" in noodle.allergens
    assert {"mollusc"} <= set(CatalogItem.objects.get(external_id="mapo-bul-jjukkumi").allergens)
    assert {"mollusc"} <= set(CatalogItem.objects.get(external_id="haeundae-jogae").allergens)


DEEP = "[" * 20_000 + "]" * 20_000  # far below the line limit, far beyond Python's recursion limit


@pytest.mark.parametrize("form", ["lines", "array"])
def test_deeply_nested_json_is_named_by_row_and_writes_nothing(tmp_path, form):
    first, second = json.dumps(row("a")), json.dumps(row("b"))[:-1] + f', "extra": {DEEP}}}'
    text = f"{first}\n{second}\n" if form == "lines" else f"[{first},\n{second}]"
    path = tmp_path / "c.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogImportError) as caught:
        services.catalog_import(path=path)
    assert (caught.value.row, caught.value.field) == (2, "json")
    assert "nested too deeply" in str(caught.value)
    assert CatalogItem.objects.count() == 0


@pytest.mark.parametrize(
    ("bad", "field", "words"),
    [
        (row("b", name="떡\u0000볶이"), "name", "NUL"),
        (row("b", description="매운\u0000맛"), "description", "NUL"),
        (row("b", tags=["spicy", "매운\u0000맛"]), "tags", "NUL"),
        (row("b\u0000"), "external_id", "NUL"),
        ({**row("b"), "na\u0000me": "x"}, "row", "NUL"),
        (row("b", name="떡볶이\ud800"), "name", "lone surrogate"),
        (row("b", tags=["spicy", "매운\udc00"]), "tags", "lone surrogate"),
        (row("b", tags=[["매운\u0000맛"]]), "tags", "NUL"),
        (row("b", allergens=[1, "\u0000"]), "allergens", "NUL"),
        ({**row("b"), "extra": {"deep": ["x", "\u0000"]}}, "extra", "NUL"),
    ],
    ids=[
        "name",
        "description",
        "a tag",
        "external_id",
        "a key",
        "a lone surrogate",
        "a lone surrogate in a tag",
        "a nested list",
        "after a number",
        "an unknown field's object",
    ],
)
@pytest.mark.parametrize("form", ["lines", "array"])
def test_a_character_no_text_can_hold_is_named_by_row_and_field_and_writes_nothing(tmp_path, bad, field, words, form):
    """A NUL (PostgreSQL's text refuses it) or a lone surrogate (no UTF-8 encodes it), anywhere in a row, written
    as the JSON escapes a file carries."""
    rows = [row("a"), bad]
    path = tmp_path / "c.json"
    if form == "lines":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(CatalogImportError) as caught:
        services.catalog_import(path=path)
    assert (caught.value.row, caught.value.field) == (2, field)
    assert words in str(caught.value)
    assert CatalogItem.objects.count() == 0


TRAILING_SCRIPT = textwrap.dedent(
    """
    import json, pathlib, sys
    import django
    django.setup()
    from customers import services
    from customers.errors import CatalogImportError

    def status(name):  # kB figures of /proc/self/status
        lines = pathlib.Path("/proc/self/status").read_text().splitlines()
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(name + ":"))

    services.catalog_import(path=sys.argv[2])  # warm up
    pathlib.Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident size (VmHWM)
    before = status("VmRSS")
    try:
        services.catalog_import(path=sys.argv[1])
    except CatalogImportError as exc:
        print(json.dumps({"error": str(exc), "growth": status("VmHWM") - before}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures with Linux's /proc")
@pytest.mark.django_db(transaction=True)
def test_data_after_the_closing_bracket_is_refused_without_being_read_into_memory(tmp_path):
    """64 MiB of blanks, then text, after the array's `]`: refused as row 1's trailing text, and the import's peak
    resident memory grows by little more than a chunk (read whole, the tail would take 64 MiB and more)."""
    path, warm_up = tmp_path / "tail.json", tmp_path / "small.jsonl"
    write_lines(warm_up, [row("warm-up")])
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps([row("a")]))
        for _ in range(64):
            out.write(" " * 2**20)
        out.write("x" * 2**20)
    completed = subprocess.run(
        [sys.executable, "-c", TRAILING_SCRIPT, str(path), str(warm_up)],
        capture_output=True,
        text=True,
        check=False,
        env=_subprocess_env(),
        timeout=110,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["error"] == "row 1: json: malformed JSON (text after the closing ']')"
    assert result["growth"] < 16 * 2**20, f"peak resident memory grew by {result['growth'] / 2**20:.0f} MiB"
    assert CatalogItem.objects.filter(external_id="a").count() == 0
    CatalogItem.objects.all().delete()
