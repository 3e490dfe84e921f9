"""JSON Lines, read a row at a time for the imports (the catalog's and the spending's): each non-blank line one JSON
value, numbered from 1; a line over the caller's limit or malformed JSON is refused as the caller's row error
(a FileRowError) naming the row, before it is read further."""

import json
from collections.abc import Iterator
from typing import IO

from customers.errors import FileRowError

TOO_DEEP = "malformed JSON (nested too deeply)"


def rows(handle: IO[str], *, error: type[FileRowError], max_chars: int) -> Iterator[tuple[int, object]]:
    """(1-based row number, decoded value) of each non-blank line of `handle`, at most `max_chars` a line."""
    number = 0
    for line in iter(lambda: handle.readline(max_chars + 1), ""):
        if len(line) > max_chars and not line.endswith("\n"):
            raise error(number + 1, "row", f"a line longer than {max_chars} characters")
        text = line.strip().lstrip("\ufeff")
        if not text:
            continue
        number += 1
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            raise error(number, "json", f"malformed JSON ({exc.msg})") from None
        except RecursionError:
            raise error(number, "json", TOO_DEEP) from None
