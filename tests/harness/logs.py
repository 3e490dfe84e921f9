"""Reading what server processes wrote to their captured log files."""

import json
from pathlib import Path


def read_log(path: Path) -> str:
    """The whole log so far ("" before the process wrote anything); undecodable bytes are replaced."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def tail(text: str, lines: int = 40) -> str:
    """The last `lines` lines of `text`, for failure messages."""
    return "\n".join(text.splitlines()[-lines:])


def json_lines(text: str) -> list[dict]:
    """The structured (JSON object) lines of a log, in order; other lines (the ASGI server's own) are skipped."""
    records = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
