"""The Lua scripts, each in `lua/<name>.lua` beside this module, read once at import; a script over a session's keys
starts with `lua/prelude.lua` (the shared functions), an admission with it and `lua/window.lua` (the sliding
window). Each names its KEYS and ARGV in locals at its top.

Every write is one script (one round trip, atomic). A script that writes during a turn first checks that the
caller's turn-lock ticket is first in line (`holds` in lua/prelude.lua; fencing, see llm/lock.py) and writes nothing
otherwise. Every script is also idempotent under the client's one retry (llm/redis.py): a message or ticket carries
an id chosen in Python, and a script that finds its own work already done does it no second time.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LUA = Path(__file__).with_name("lua")
# A script that declares flags (Redis 7) is checked before it runs: on a Redis that refuses writes (a read-only
# replica, OOM under `noeviction`, MISCONF after a failed snapshot) it fails at once, before any command. Without the
# line, Redis checks OOM only at a script's first write, and only if it could grow memory: a script that first
# trimmed or deleted something would go on writing, and a turn could get half-way.
_SHEBANG = "#!lua"


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str, *, prelude: bool = True, window: bool = False) -> "Script":
        shared = [part for part, used in (("prelude", prelude), ("window", window)) if used]
        parts = [(LUA / f"{part}.lua").read_text() for part in shared]
        source = "\n".join([_SHEBANG, *parts, (LUA / f"{name}.lua").read_text()])
        return cls(name, source, hashlib.sha1(source.encode()).hexdigest())  # noqa: S324 - Redis names scripts by SHA-1

    def call(self, keys: Sequence[str], args: Iterable[Any] = ()) -> "Call":
        return Call(("EVALSHA", self.sha, len(keys), *keys, *args), self)


@dataclass(frozen=True, slots=True)
class Call:
    """One command: a script with its keys and arguments (run by EVALSHA), or a plain Redis command."""

    command: tuple[Any, ...]
    script: Script | None = None


LOCK_TRY = Script.load("lock_try")
LOCK_RELEASE = Script.load("lock_release")
LOCK_RENEW = Script.load("lock_renew")
BEGIN = Script.load("begin")
FINISH = Script.load("finish")
SUMMARY = Script.load("summary")
CONVERSATION = Script.load("conversation", prelude=False)
ERASE = Script.load("erase", prelude=False)
ADMIT = Script.load("admit", window=True)
MOOD = Script.load("mood", prelude=False)
CONSTRAINTS = Script.load("constraints")
USAGE = Script.load("usage", prelude=False)
THROTTLE = Script.load("throttle", window=True)
OWE = Script.load("owe", prelude=False)
REVISE = Script.load("revise")
