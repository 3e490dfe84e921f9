"""The end of `make run`'s preamble: the next thing to type, with alice's token, and (DEBUG only) a staff login.

The staff user `staff` gets a password generated once and kept in `var/staff-password` (readable by this user
only); with DEBUG off no staff user is created and none is printed.
"""

import argparse
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAFF_USERNAME = "staff"


def staff_login(password_file: Path) -> str:
    """Make sure the local staff user exists with the password kept in `password_file`; return that password."""
    from django.contrib.auth import get_user_model

    if password_file.is_file():
        password = password_file.read_text(encoding="utf-8").strip()
    else:
        password = secrets.token_urlsafe(12)
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
    user, _ = get_user_model().objects.get_or_create(
        username=STAFF_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if not (user.is_staff and user.is_superuser and user.check_password(password)):
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
    return password


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="where the server is about to listen")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    from customers import services as customers

    alice = next(c for c in customers.demo_customers_seed() if c.username == "alice")
    url = args.url.rstrip("/")
    lines = [
        "",
        f"Serving on {url} (Ctrl-C stops it). Next, try:",
        f"  curl -s -w '\\n' -H 'Authorization: Token {alice.token}' {url}/api/v1/me",
        f"  API docs: {url}/api/docs/",
    ]
    if settings.DEBUG:
        password = staff_login(Path(settings.BASE_DIR) / "var" / "staff-password")
        lines.append(f"  Admin:    {url}/admin/  (local staff login: {STAFF_USERNAME} / {password})")
    else:
        hint = "create a staff user with `.venv/bin/python manage.py createsuperuser`"
        lines.append(f"  Admin:    {url}/admin/  ({hint})")
    print("\n".join([*lines, ""]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
