"""The README as a new user follows it: `make run` in a fresh checkout, the curl walkthrough extracted from the
README itself with the statuses its comments promise, and every `manage.py` command it names, run in that checkout
with nothing but the `.env` that `make run` wrote.

The checkout is a copy of this working tree's files (tracked and untracked, not ignored ones) sharing this venv;
`make -o .venv/.installed` skips the dependency step. Only REDIS_URL comes from the environment (the process
environment wins over `.env`), so that the test Redis index is used and never the developer's database 0.
"""

import contextlib
import http.cookiejar
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.harness import free_port

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
WALKTHROUGH_HEADING = "A session against `make run`"
SYNC_ITERATOR_WARNING = "StreamingHttpResponse must consume synchronous iterators"


@dataclass(frozen=True)
class MadeRun:
    checkout: Path
    url: str
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def fresh_shell_env() -> dict[str, str]:
    """What a new terminal has, plus the test Redis index: none of the test process's settings."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "REDIS_URL": settings.REDIS_URL,
    }


def copy_checkout(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (item.decode() for item in listed)):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to((ROOT / ".venv").resolve())


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - a loopback URL of this test
            return response.status
    except OSError:
        return None


@pytest.fixture(scope="module")
def made_run(tmp_path_factory) -> Iterator[MadeRun]:
    """`make run` in a fresh checkout, serving until the module's tests are done."""
    checkout = tmp_path_factory.mktemp("checkout")
    copy_checkout(checkout)
    port = free_port()
    log_path = checkout.parent / "make-run.log"
    env = fresh_shell_env()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "run", f"PORT={port}"],
            cwd=checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    made = MadeRun(checkout=checkout, url=f"http://127.0.0.1:{port}", log_path=log_path, env=env)
    try:
        deadline = time.monotonic() + 90
        while http_status(made.url + "/healthz") != 200:
            assert process.poll() is None, f"make run exited with {process.returncode}:\n{made.log()}"
            assert time.monotonic() < deadline, f"make run did not serve in time:\n{made.log()}"
            time.sleep(0.2)
        yield made
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def readme_walkthrough() -> str:
    """The first ```sh block after the walkthrough's heading line."""
    text = README.read_text()
    start = text.index(WALKTHROUGH_HEADING)
    match = re.compile(r"```sh\n(.*?)```", re.DOTALL).search(text, start)
    assert match, "no ```sh block after the walkthrough heading"
    return match.group(1)


def expected_statuses(block: str) -> list[int]:
    """The status promised at the end of each line that runs curl (`# 201`)."""
    statuses = []
    for line in block.splitlines():
        if re.search(r"(^|\$\()curl ", line):
            promised = re.search(r"#\s*(\d{3})\s*$", line)
            assert promised, f"a curl line of the walkthrough promises no status: {line}"
            statuses.append(int(promised.group(1)))
    return statuses


def preamble_curl_line(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip().startswith("curl ")]
    assert len(lines) == 1, log
    return lines[0]


def page_signed_in(url: str, username: str, password: str) -> bool:
    """Whether the chat page's sign-in form takes the password: it then sends the browser to the page."""
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    form = browser.open(url + "/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    fields = {"username": username, "password": password, "csrfmiddlewaretoken": token}
    with browser.open(url + "/login/", urllib.parse.urlencode(fields).encode(), timeout=10) as answer:
        return answer.geturl() == url + "/" and "chat/app" in answer.read().decode()


def test_make_run_ends_its_preamble_with_the_next_thing_to_type(made_run):
    log = made_run.log()
    line = preamble_curl_line(log)
    lines = [text.strip() for text in log.splitlines()]
    staff_password = (made_run.checkout / "var" / "staff-password").read_text().strip()
    at = lines.index(line)
    assert lines[at + 1] == f"API docs: {made_run.url}/api/docs/"
    assert lines[at + 2] == f"Admin:    {made_run.url}/admin/  (local staff login: staff / {staff_password})"
    logins = ", ".join(
        f"{name} / {(made_run.checkout / 'var' / f'{name}-password').read_text().strip()}"
        for name in ("alice", "bob", "charlie")
    )
    assert lines[at + 3] == f"Chat:     {made_run.url}/  (log in as {logins})"
    assert all(not text or text.startswith("ts=") for text in lines[at + 4 :]), "only the server's own log follows"
    alice_password = (made_run.checkout / "var" / "alice-password").read_text().strip()
    assert page_signed_in(made_run.url, "alice", alice_password)
    assert not page_signed_in(made_run.url, "alice", "not-" + alice_password)

    result = subprocess.run(["bash", "-c", line], env=made_run.env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("}\n")
    assert json.loads(result.stdout)["username"] == "alice"

    with urllib.request.urlopen(made_run.url + "/admin/login/", timeout=10) as login:  # noqa: S310 - loopback
        assert login.status == 200
        assets = set(re.findall(r"""(?:href|src)="(/static/[^"]+)""", login.read().decode()))
    assert assets
    for asset in sorted(assets):
        assert http_status(made_run.url + asset) == 200, asset
    assert SYNC_ITERATOR_WARNING not in made_run.log()
    env_file = (made_run.checkout / ".env").read_text()
    assert "DEBUG=true" in env_file
    assert re.search(r"^SECRET_KEY=\S{50,}$", env_file, re.MULTILINE)


def test_the_readme_walkthrough_answers_the_statuses_it_promises(made_run, tmp_path):
    block = readme_walkthrough()
    statuses = expected_statuses(block)
    assert len(statuses) >= 8
    token = preamble_curl_line(made_run.log()).split("Token ", 1)[1].split("'", 1)[0]
    assert re.search(r"^TOKEN=\.\.\. ", block, re.MULTILINE), "the walkthrough starts with TOKEN=..."
    script = re.sub(r"^TOKEN=\.\.\. ", f"TOKEN={token} ", block, count=1, flags=re.MULTILINE)
    script = script.replace("http://127.0.0.1:8000", made_run.url)
    headers = tmp_path / "headers"
    headers.mkdir()
    # Each curl also dumps its response headers to a file of its own, in order: the README's lines stay as they are.
    recorder = f'curl() {{ command curl -D "{headers}/$(date +%s%N)" "$@"; }}\n'

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", recorder + script],
        cwd=tmp_path,
        env=made_run.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    answered = []
    for dump in sorted(headers.iterdir()):
        status_lines = [line for line in dump.read_text().splitlines() if line.startswith("HTTP/")]
        answered.append(int(status_lines[-1].split()[1]))
    assert answered == statuses, result.stdout

    # Every body ends with a newline: no two bodies (or a body and the prompt) share a line.
    for line in result.stdout.splitlines():
        if line and not line.startswith(("event:", "data:", ":")):
            assert isinstance(json.loads(line), dict), line
    assert result.stdout.endswith("\n")
    assert '"status":"ended"' in result.stdout.splitlines()[-1]

    assert SYNC_ITERATOR_WARNING not in made_run.log()
    assert "Traceback" not in made_run.log()


def readme_manage_commands() -> list[str]:
    """Every `manage.py` command line the README shows, in inline code or in a code block, as written."""
    found = []
    for match in re.finditer(r"(?:\.venv/bin/)?python manage\.py [a-z_]+[^`\n#]*", README.read_text()):
        command = match.group(0).strip()
        if "…" not in command and command not in found:
            found.append(command)
    return found


def run_in_terminal(command: str, *, cwd: Path, env: dict[str, str], answers: list[tuple[str, str]]) -> str:
    """Run `command` in a pseudo-terminal, typing each answer once its prompt appears; return what it showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.chdir(cwd)
        os.execve("/bin/bash", ["bash", "-c", command], env)  # noqa: S606
    shown = b""
    pending = list(answers)
    deadline = time.monotonic() + 40
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the child is gone
                    break
                if not data:
                    break
                shown += data
                if pending and pending[0][0].encode() in shown.rsplit(b"\n", 1)[-1]:
                    os.write(fd, pending.pop(0)[1].encode() + b"\n")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = shown.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert not pending, text
    return text


def test_every_manage_command_in_the_readme_works_with_only_the_env_make_run_wrote(made_run):
    commands = readme_manage_commands()
    names = [command.split("manage.py ", 1)[1].split()[0] for command in commands]
    for expected in ("createsuperuser", "chat", "llm_check", "end_idle_sessions", "migrate", "collectstatic"):
        assert expected in names, names
    env = {**made_run.env, "PATH": f"{made_run.checkout / '.venv' / 'bin'}:{made_run.env['PATH']}"}
    password = "a-long-local-admin-passphrase-42"

    for command, name in zip(commands, names, strict=True):
        if name == "createsuperuser":
            shown = run_in_terminal(
                command,
                cwd=made_run.checkout,
                env=env,
                answers=[
                    ("Username", "readme-admin"),
                    ("Email", "admin@example.com"),
                    ("Password", password),
                    ("Password (again)", password),
                ],
            )
            assert "Superuser created successfully." in shown
            continue
        stdin = "What should I eat tonight?\n/end\n" if name == "chat" else ""
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=made_run.checkout,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
        assert "SECRET_KEY" not in result.stderr
        if name == "chat":
            # The conversation on stdout, and no log line in it or around it.
            lines = result.stdout.splitlines()
            assert lines[0].startswith("Chatting as alice in session ")
            assert lines[2].startswith("you> bot> Alice Kim"), result.stdout
            assert lines[3] == "you> Session ended. Summary:"
            assert not re.search(r"level=|event=|logger=", result.stdout + result.stderr), result.stdout
