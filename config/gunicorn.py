"""gunicorn's settings for serving the app (the README's deployment command):

    gunicorn config.asgi:application -c config/gunicorn.py --bind 0.0.0.0:8000 --workers 2

uvicorn's worker (uvloop, httptools) under gunicorn's master: every endpoint through ASGI, so that streamed replies
hold no thread each. The app is loaded once, in the master, before the workers fork (`preload_app`), and the
tokenizer (about 80 MB) is built there too (`when_ready`): the workers share those pages instead of each loading its
own. `gc.freeze()` moves what the master built out of the collector's reach, so that a worker's collections do not
write to (and so copy) the shared pages. Chosen by measurement: docs/benchmarks.md, docs/decisions/0023.
"""

import gc
from typing import Any

from uvicorn_worker import UvicornWorker

preload_app = True
worker_class = "config.gunicorn.Worker"
workers = 2  # one per core; --workers overrides it
accesslog = None  # the app logs its own access lines
graceful_timeout = 30  # seconds a worker has to finish its requests (streams included) on SIGTERM
keepalive = 5
control_socket_disable = True  # no runtime control socket (gunicorn 27 opens one by default)


class Worker(UvicornWorker):
    """uvicorn's worker, without the ASGI lifespan protocol (Django does not speak it)."""

    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "lifespan": "off"}


def when_ready(server: Any) -> None:
    """In the master, the app loaded, before the first fork."""
    from llm.services import tokenizer_preload

    tokenizer_preload()
    gc.freeze()
    server.log.info("tokenizer loaded before the workers fork")
