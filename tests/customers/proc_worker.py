"""A separate process for the multi-process tests: `python -m tests.customers.proc_worker COMMAND ARGS...`.

It sets Django up (DJANGO_SETTINGS_MODULE and DATABASE_URL come from the parent), prints "ready", waits for a line on
stdin so that the parent can start several workers at the same moment, runs COMMAND and prints one JSON line.
"""

import json
import os
import sys
import threading
from uuid import UUID


def _profile_in_threads(customer_id: str, threads: str) -> dict[str, object]:
    """Read one customer's profile from several threads at once; report the SQL queries they made in total."""
    from django.db import connection

    from customers import services

    queries, names = [], []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    def read() -> None:
        try:
            with connection.execute_wrapper(count):
                names.append(services.customer_profile_get(customer_id=int(customer_id)).display_name)
        finally:
            connection.close()

    workers = [threading.Thread(target=read) for _ in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"queries": len(queries), "names": names}


def _end(session_id: str) -> str:
    from customers import errors, services

    try:
        services.session_end(session_id=UUID(session_id), summary=f"ended by process {os.getpid()}")
    except errors.CustomersError as exc:
        return exc.code
    return "ended"


def _turn_reads(customer_id: str, user_id: str, token: str, session_id: str) -> dict[str, str]:
    """Each read of a turn, then the activity write: its answer, or the error code it raised."""
    from customers import errors, services

    calls = {
        "api_user": lambda: services.api_user_get_by_token(key=token).user_id,
        "customer_id": lambda: services.customer_id_get_by_user(user_id=int(user_id)),
        "profile": lambda: services.customer_profile_get(customer_id=int(customer_id)).display_name,
        "access": lambda: services.session_access_get(customer_id=int(customer_id), session_id=UUID(session_id)).status,
        "turn_facts": lambda: len(
            services.turn_facts_get(
                customer_id=int(customer_id), session_id=UUID(session_id), past_limit=3
            ).past_summaries
        ),
        "activity": lambda: services.session_record_activity(
            session_id=UUID(session_id), messages_added=2, prompt_tokens=1, completion_tokens=1
        ),
    }
    results = {}
    for name, call in calls.items():
        try:
            results[name] = str(call())
        except errors.CustomersError as exc:
            results[name] = exc.code
    return results


COMMANDS = {"profile-in-threads": _profile_in_threads, "end": _end, "turn-reads": _turn_reads}


def main() -> None:
    import django

    django.setup()
    command, *args = sys.argv[1:]
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(COMMANDS[command](*args)), flush=True)


if __name__ == "__main__":
    main()
