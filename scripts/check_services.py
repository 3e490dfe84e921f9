"""Say in one line what to do when a service the project needs is not reachable. Exit 1 if any is down."""

import argparse
import os
import socket
import sys
from urllib.parse import urlsplit

import redis
from dotenv import dotenv_values

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_problem(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError:
        return (
            f"Redis is not reachable at {url}: start it with "
            "`redis-server --daemonize yes --save '' --appendonly no` (or set REDIS_URL), then run this again."
        )
    return None


def postgres_problem(url: str) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return (
            f"PostgreSQL is not reachable at {host}:{port}: start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` (or set DATABASE_URL)."
        )
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", default=None, help="Redis URL to check")
    parser.add_argument(
        "--redis-of-env", metavar="ENV_FILE", default=None, help="check REDIS_URL of the environment, else of this file"
    )
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL to check")
    args = parser.parse_args()
    problems = []
    if args.redis_of_env is not None:
        from_file = dotenv_values(args.redis_of_env, interpolate=False) if os.path.isfile(args.redis_of_env) else {}
        args.redis = os.environ.get("REDIS_URL") or from_file.get("REDIS_URL") or DEFAULT_REDIS_URL
    if args.redis:
        problems.append(redis_problem(args.redis))
    if args.postgres:
        problems.append(postgres_problem(args.postgres))
    problems = [p for p in problems if p]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
