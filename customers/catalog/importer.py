"""`catalog_import`: a JSON array or JSON Lines file of catalog items, validated whole, then upserted in batches.

Two passes over the file, each streamed: the first validates every row and keeps only the set of external ids (to refuse
duplicates and, with `deactivate_missing`, to know what is missing) and the dishes' venue references (each must be a
restaurant of the file or of the catalog); the second re-reads the file, derives each row's stored facts (the allergens
its text mentions among them, read once: a row whose text mentions an allergen it does not declare is a warning) and
writes it in batches of BATCH_SIZE rows, all in one transaction, so a failure anywhere leaves the catalog as it was. A
dish is inserted with its venue when its restaurant is in the catalog or in the same batch (on PostgreSQL the batch's
new rows draw their keys first); one whose restaurant comes in a later batch gets its venue once every row is written.
Memory is bounded by the ids, the references and the warnings plus one batch, whatever the file's size (what follows an
array's closing "]" is read a chunk at a time). Whatever the file holds, a bad input is a CatalogImportError naming its
row and field, before anything is written: malformed or too deeply nested JSON, and a character no stored text can hold
(a NUL, a lone surrogate), are found while reading, the rest by the row's validation. Nothing about catalog items is
cached (the candidates search reads the database each time), so an import needs no cache invalidation."""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.db import connection, models, transaction
from django.utils import timezone

from customers import jsonlines
from customers.catalog import items
from customers.data import CatalogImportResult, CatalogImportWarning
from customers.errors import CatalogImportError
from customers.models import CATALOG_ITEM_FIELDS, DERIVED_FROM, CatalogItem, ItemKind

BATCH_SIZE = 1000
CHUNK_CHARS = 1 << 20
MAX_LINE_CHARS = 64 * 1024  # far above the largest valid row (2,000-character description and all)
_WHITESPACE = " \t\r\n"
_TOO_DEEP = jsonlines.TOO_DEEP
_encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(value, ensure_ascii=False), its encoder built once
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_FIELD_NAMES = frozenset(items.FIELDS)
_SCALARS = frozenset((int, float, bool))
_MODEL_FIELDS = CATALOG_ITEM_FIELDS
_DERIVED = ("mentions", "allergen_mask", "diet_mask", "keywords")

Progress = Callable[[int, int], None]  # (rows written so far, rows in the file)


@dataclass
class _Checked:
    """What the validating pass keeps of a file."""

    ids: set[str] = field(default_factory=set)
    restaurants: set[str] = field(default_factory=set)
    venues: dict[str, int] = field(default_factory=dict)  # a venue referred to -> the first row referring to it


def import_file(
    path: str | Path, *, deactivate_missing: bool = False, progress: Progress | None = None
) -> CatalogImportResult:
    """Validate the whole file, then upsert it by external_id. Raises CatalogImportError; nothing is written then."""
    checked = validate_file(path)
    ids = checked.ids
    counts = {"created": 0, "updated": 0, "unchanged": 0, "deactivated": 0}
    warnings: list[CatalogImportWarning] = []
    done = 0
    with transaction.atomic():
        batch: list[dict[str, Any]] = []
        seen: set[str] = set()
        later: dict[str, str] = {}  # dish -> venue not written yet when the dish was
        for number, raw in _rows(path):
            fields = _validated(number, raw)
            if fields["external_id"] in seen or fields["external_id"] not in ids:  # the file changed under us
                raise CatalogImportError(number, "external_id", "the file changed during the import")
            seen.add(fields["external_id"])
            fields.update(items.derived(**{name: fields[name] for name in DERIVED_FROM}))
            if undeclared := items.undeclared(fields["allergens"], fields["mentions"]):
                warnings.append(CatalogImportWarning(number, fields["external_id"], undeclared))
            batch.append(fields)
            if len(batch) == BATCH_SIZE:
                _write(batch, counts, later)
                done += len(batch)
                batch = []
                if progress:
                    progress(done, len(ids))
        if seen != ids:
            raise CatalogImportError(0, "file", "the file changed during the import")
        if batch:
            _write(batch, counts, later)
            done += len(batch)
        _link_later(later)
        if deactivate_missing:
            counts["deactivated"] = _deactivate_missing(ids)
        if progress:
            progress(done, len(ids))
    return CatalogImportResult(**counts, warnings=tuple(warnings))


def validate_file(path: str | Path) -> _Checked:
    """Every row checked against the contract, every venue against the file and the catalog; the ids and the
    venues. Raises CatalogImportError (the first bad row)."""
    checked = _Checked()
    for number, raw in _rows(path):
        fields = _validated(number, raw)
        external_id = fields["external_id"]
        if external_id in checked.ids:
            raise CatalogImportError(number, "external_id", f"duplicate {external_id!r} in the file")
        checked.ids.add(external_id)
        if fields["kind"] == ItemKind.RESTAURANT:
            checked.restaurants.add(external_id)
        if fields["venue"] is not None:
            checked.venues.setdefault(fields["venue"], number)
    _check_venues(checked)
    return checked


def _check_venues(checked: _Checked) -> None:
    """Each venue referred to is a restaurant of the file or, when the file does not list it, of the catalog."""
    elsewhere = sorted(venue for venue in checked.venues if venue not in checked.ids)
    known: set[str] = set()
    for start in range(0, len(elsewhere), BATCH_SIZE):
        chunk = elsewhere[start : start + BATCH_SIZE]
        rows = CatalogItem.objects.filter(external_id__in=chunk, kind=ItemKind.RESTAURANT)
        known.update(rows.values_list("external_id", flat=True))
    bad = [
        (number, venue)
        for venue, number in checked.venues.items()
        if venue not in checked.restaurants and venue not in known
    ]
    if bad:
        number, venue = min(bad)
        where = "is not a restaurant" if venue in checked.ids else "is no restaurant of the file or the catalog"
        raise CatalogImportError(number, "venue", f"{venue!r} {where}")


def _validated(number: int, raw: object) -> dict[str, Any]:
    if found := _unstorable(raw):
        # No database text can hold it: refused here, named, rather than as the database's error mid-import.
        field, character = found
        raise CatalogImportError(number, field, f"holds {character}, which no stored text may contain")
    try:
        return items.validate(raw)
    except items.RowError as exc:
        raise CatalogImportError(number, exc.field, exc.message) from None


def _unstorable(raw: object) -> tuple[str, str] | None:
    """The field of a decoded row whose value holds, anywhere in it, a character no stored text can (a NUL, or a lone
    surrogate that a `\\ud800` escape decodes to), and what it is; the field is "row" for a field's name (or a row
    that is no object). None when there is none."""
    if _plain(raw):  # most rows: each string searched once, nothing else to read
        return None
    fields = raw.items() if isinstance(raw, dict) else [("row", raw)]
    for name, value in fields:
        if _UNSTORABLE.search(name):
            return "row", _character(name)
        pending = [value]
        while pending:  # no recursion: a row nests as deep as the JSON decoder allows
            item = pending.pop()
            if isinstance(item, str) and _UNSTORABLE.search(item):
                return name, _character(item)
            if isinstance(item, list):
                pending.extend(item)
            elif isinstance(item, dict):
                pending.extend(item.keys())
                pending.extend(item.values())
    return None


def _plain(raw: object) -> bool:
    """Whether `raw` is an object of the contract's field names whose values are strings, lists of strings, numbers,
    booleans or nulls, with no string holding a NUL or a lone surrogate: nearly every row, read without the walk."""
    if type(raw) is not dict:
        return False
    for name, value in raw.items():
        if name not in _FIELD_NAMES:
            return False
        for item in value if type(value) is list else (value,):
            if type(item) is str:
                if _UNSTORABLE.search(item):
                    return False
            elif item is not None and type(item) not in _SCALARS:
                return False
    return True


def _character(text: str) -> str:
    found = _UNSTORABLE.search(text)
    assert found is not None
    return "a NUL character (U+0000)" if found.group() == "\x00" else "a lone surrogate (an unpaired \\u escape)"


def _write(batch: list[dict[str, Any]], counts: dict[str, int], later: dict[str, str]) -> None:
    """Upsert a batch of rows (their fields and derived facts); a dish whose venue is not written yet goes into
    `later` (its venue set by `_link_later`)."""
    existing = {
        row["external_id"]: row
        for row in CatalogItem.objects.filter(external_id__in=[f["external_id"] for f in batch]).values(
            "id", "external_id", *_MODEL_FIELDS, *_DERIVED
        )
    }
    venues = dict(
        CatalogItem.objects.filter(external_id__in={f["venue"] for f in batch if f["venue"]}).values_list(
            "external_id", "id"
        )
    )
    reserved = _reserved_pks(batch, existing, venues)
    venues.update((venue, reserved[venue]) for venue in {f["venue"] for f in batch} if venue in reserved)
    now = timezone.now()
    to_create, to_update = [], []
    for fields in batch:
        venue = fields["venue"]
        values = {**fields, "venue": venues.get(venue)}
        if venue is not None and venue not in venues:
            later[fields["external_id"]] = venue
        current = existing.get(fields["external_id"])
        if current is None:
            to_create.append(values)
        elif fields["external_id"] in later or any(current[name] != values[name] for name in values):
            to_update.append(CatalogItem(pk=current["id"], **_model_values(values), updated_at=now))
        else:
            counts["unchanged"] += 1
    if to_create:
        _create(to_create, reserved, now)
    if to_update:
        CatalogItem.objects.bulk_update(to_update, [*_MODEL_FIELDS, *_DERIVED, "updated_at"])
    counts["created"] += len(to_create)
    counts["updated"] += len(to_update)


def _create(rows: list[dict[str, Any]], reserved: dict[str, int], now: datetime) -> None:
    """Insert new rows (with their reserved keys, when drawn). On PostgreSQL by COPY: Django's bulk insert prepared
    every value in Python and psycopg quoted each column's array parameter element by element (the JSON columns'
    quotes escaped one by one), about as long as the database's insert took."""
    if connection.vendor != "postgresql":
        objects = [CatalogItem(pk=reserved.get(row["external_id"]), **_model_values(row)) for row in rows]
        CatalogItem.objects.bulk_create(objects)
        return
    # Every column but the generated search vector; a model field the rows lack fails here, loudly.
    fields = [field for field in CatalogItem._meta.concrete_fields if reserved or not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    encoded = [(field.name, isinstance(field, models.JSONField)) for field in fields]
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY {quote(CatalogItem._meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            stored = {**row, "created_at": now, "updated_at": now, "id": reserved.get(row["external_id"])}
            # A JSON value as its text; None stays SQL NULL, as the ORM stores it (`allergens` unknown).
            copy.write_row(
                [
                    _encode(stored[name]) if json_ and stored[name] is not None else stored[name]
                    for name, json_ in encoded
                ]
            )


def _reserved_pks(batch: list[dict[str, Any]], existing: dict[str, Any], venues: dict[str, int]) -> dict[str, int]:
    """PostgreSQL, when a dish of the batch has its restaurant among the batch's new rows: the primary keys of the
    batch's new rows, drawn from the table's sequence in the file's order (as the insert would draw them), so that
    those dishes are inserted with their venue rather than updated once it is written (an update of thousands of
    rows rewrites each with all its indexes). Empty otherwise."""
    new = [f["external_id"] for f in batch if f["external_id"] not in existing]
    waiting = {f["venue"] for f in batch if f["venue"] is not None and f["venue"] not in venues}
    if connection.vendor != "postgresql" or waiting.isdisjoint(new):
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [CatalogItem._meta.db_table, len(new)],
        )
        pks = sorted(pk for (pk,) in cursor.fetchall())
    return dict(zip(new, pks, strict=True))


def _model_values(values: dict[str, Any]) -> dict[str, Any]:
    """The model's keyword arguments: the venue as its primary key."""
    return {("venue_id" if name == "venue" else name): value for name, value in values.items()}


def _link_later(later: dict[str, str]) -> None:
    """Set the venue of the dishes written before their restaurant."""
    pending = sorted(later.items())
    for start in range(0, len(pending), BATCH_SIZE):
        chunk = dict(pending[start : start + BATCH_SIZE])
        ids = dict(
            CatalogItem.objects.filter(external_id__in={*chunk, *chunk.values()}).values_list("external_id", "id")
        )
        dishes = [CatalogItem(pk=ids[dish], venue_id=ids[venue]) for dish, venue in chunk.items()]
        CatalogItem.objects.bulk_update(dishes, ["venue"])


def _deactivate_missing(ids: set[str]) -> int:
    """Deactivate the active items whose external id is not in `ids`, in batches (no giant IN list)."""
    missing = [
        pk
        for pk, external_id in CatalogItem.objects.filter(active=True).values_list("pk", "external_id").iterator()
        if external_id not in ids
    ]
    now = timezone.now()
    for start in range(0, len(missing), BATCH_SIZE):
        CatalogItem.objects.filter(pk__in=missing[start : start + BATCH_SIZE]).update(active=False, updated_at=now)
    return len(missing)


# --- reading ----------------------------------------------------------------------------------------------------


def _rows(path: str | Path) -> Iterator[tuple[int, object]]:
    """(1-based row number, decoded value) of each item: a JSON array if the file starts with "[", else JSON Lines."""
    try:
        handle = Path(path).open(encoding="utf-8")  # noqa: SIM115 - closed by the `with` below
    except OSError as exc:
        raise CatalogImportError(0, "file", f"cannot read it ({exc.strerror or type(exc).__name__})") from None
    with handle:
        try:
            first = _first_character(handle)
            if first == "[":
                yield from _array_rows(handle)
            elif first:
                yield from jsonlines.rows(handle, error=CatalogImportError, max_chars=MAX_LINE_CHARS)
        except UnicodeDecodeError:
            raise CatalogImportError(0, "file", "not UTF-8 text") from None


def _first_character(handle: IO[str]) -> str:
    """The first character that is no blank (or BOM); the handle stays after it for "[", else at the start."""
    while True:
        char = handle.read(1)
        if char == "\ufeff" or (char and char in _WHITESPACE):
            continue
        if char and char != "[":
            handle.seek(0)
        return char


def _array_rows(handle: IO[str]) -> Iterator[tuple[int, object]]:
    """The items of a JSON array read in chunks: at most a chunk plus one item in memory."""
    decoder = json.JSONDecoder()
    buffer, pos, eof = "", 0, False
    number = 0
    expect_value = True  # after "[" or ","; False after a value

    def fill() -> bool:
        nonlocal buffer, pos, eof
        more = handle.read(CHUNK_CHARS)
        if not more:
            eof = True
            return False
        buffer, pos = buffer[pos:] + more, 0
        return True

    while True:
        while True:
            while pos < len(buffer) and buffer[pos] in _WHITESPACE:
                pos += 1
            if pos < len(buffer) or not fill():
                break
        if pos >= len(buffer):
            raise CatalogImportError(number + 1 if expect_value else number, "json", "malformed JSON (unexpected end)")
        char = buffer[pos]
        if char == "]" and (not expect_value or number == 0):
            pos += 1
            break
        if not expect_value:
            if char != ",":
                raise CatalogImportError(number, "json", "malformed JSON (expected ',' or ']' after the row)")
            pos += 1
            expect_value = True
            continue
        if number == 0 and char == ",":
            raise CatalogImportError(1, "json", "malformed JSON (expected a row)")
        while True:
            try:
                value, end = decoder.raw_decode(buffer, pos)
            except json.JSONDecodeError as exc:
                if eof or len(buffer) - pos > MAX_LINE_CHARS:
                    raise CatalogImportError(number + 1, "json", f"malformed JSON ({exc.msg})") from None
                fill()
                continue
            except RecursionError:
                raise CatalogImportError(number + 1, "json", _TOO_DEEP) from None
            if end < len(buffer) or eof or not fill():  # a number cut at the chunk's end would decode short
                break
        number += 1
        pos = end
        expect_value = False
        yield number, value
    rest = buffer[pos:]
    while rest:  # what follows the array, a chunk at a time: only blanks may
        if rest.strip(_WHITESPACE):
            raise CatalogImportError(number, "json", "malformed JSON (text after the closing ']')")
        rest = handle.read(CHUNK_CHARS)
