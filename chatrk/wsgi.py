"""WSGI entry point, served by granian (``chatrk web``).

Meta's webhook requests, by far the busiest, are served by ``chatrk.ingest.endpoint.application``
without Django's request cycle: they carry no cookie and are authenticated by their signature alone,
so the browser middleware, the request and response objects and the URL resolver would only cost
time (docs/pipeline.md §6). That application answers the webhook route only (404 for anything else
under the prefix), so no other view can be reached without the full middleware.
"""

import gc
import os
from collections.abc import Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatrk.settings")
web_application = get_wsgi_application()

from chatrk.ingest import endpoint  # noqa: E402 (needs the settings above)

# Start-up's objects (Django, every module, the URL tables) live as long as the worker: frozen, the
# collections that requests set off stop walking them. Webhook CPU 147-148 µs a request against
# 153-157 without (bench/ingest.py, SQLite, two alternated pairs).
gc.freeze()


def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ.get("PATH_INFO", "").startswith(endpoint.PREFIX):
        return endpoint.application(environ, start_response)
    return web_application(environ, start_response)
