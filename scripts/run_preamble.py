"""The end of `make run`'s preamble: the next thing to type, with alice's token, and (DEBUG only) the local logins:
the staff user's for the admin and the demo customers' for the chat page.

Each gets a password generated once and kept in `var/<username>-password` (readable by this user only): the staff
user `staff` in `var/staff-password`, alice in `var/alice-password`, and so on. With DEBUG off no staff user is
created, no customer gets a password and none is printed.
"""

import argparse
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAFF_USERNAME = "staff"


def local_login(username: str, password_file: Path, *, staff: bool) -> str:
    """Make sure user `username` exists (a superuser when `staff`) with the password kept in `password_file`,
    generated the first time; return that password."""
    from django.contrib.auth import get_user_model

    if password_file.is_file():
        password = password_file.read_text(encoding="utf-8").strip()
    else:
        password = secrets.token_urlsafe(12)
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"is_staff": staff, "is_superuser": staff}
    )
    if staff and not (user.is_staff and user.is_superuser):
        user.is_staff = user.is_superuser = True
        user.save()
    if not user.check_password(password):
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

    demo = customers.demo_customers_seed()
    alice = next(c for c in demo if c.username == "alice")
    url = args.url.rstrip("/")
    lines = [
        "",
        f"Serving on {url} (Ctrl-C stops it). Next, try:",
        f"  curl -s -w '\\n' -H 'Authorization: Token {alice.token}' {url}/api/v1/me",
        f"  API docs: {url}/api/docs/",
    ]
    if settings.DEBUG:
        var = Path(settings.BASE_DIR) / "var"
        password = local_login(STAFF_USERNAME, var / f"{STAFF_USERNAME}-password", staff=True)
        lines.append(f"  Admin:    {url}/admin/  (local staff login: {STAFF_USERNAME} / {password})")
        logins = ", ".join(
            f"{c.username} / {local_login(c.username, var / f'{c.username}-password', staff=False)}" for c in demo
        )
        lines.append(f"  Chat:     {url}/  (log in as {logins})")
    else:
        hint = "create a staff user with `.venv/bin/python manage.py createsuperuser`"
        lines.append(f"  Admin:    {url}/admin/  ({hint})")
    print("\n".join([*lines, ""]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
