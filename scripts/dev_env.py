"""Write the local `.env` for `make run` from `.env.example` when there is none: DEBUG on, a generated SECRET_KEY.

An existing `.env` is never touched. The file is git-ignored and meant for this checkout only; the process
environment wins over it (see `config.env.env_file_load`).
"""

import argparse
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = (
    "# Written by `make run` from .env.example for local development (git-ignored). Variables set in the\n"
    "# environment win over these lines. Never use this file in production: DEBUG is on.\n"
)


def env_text(example: str, secret_key: str) -> str:
    """The example's lines with DEBUG on and the secret key filled in; its opening comment replaced."""
    lines = example.splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    out = []
    for line in lines:
        if line.startswith("DEBUG="):
            line = "DEBUG=true                       # local development only"
        elif line.startswith("SECRET_KEY="):
            line = f"SECRET_KEY={secret_key}"
        out.append(line)
    return HEADER + "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", type=Path, default=ROOT / ".env", help="the file to write (default: .env)")
    args = parser.parse_args()
    if args.path.exists():
        return 0
    text = env_text((ROOT / ".env.example").read_text(encoding="utf-8"), secrets.token_urlsafe(50))
    descriptor = os.open(args.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # the secret is for this user
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"Wrote {args.path.name} (DEBUG on, a generated SECRET_KEY) from .env.example; edit it to change settings.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
