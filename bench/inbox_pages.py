"""Bench: server time of the inbox's list and thread with 100,000 conversations and 1,000,000 messages.

Seeds (once: reused while the seeded models' columns and this bench's seed version stay the same) a
workspace under ``var/inboxbench/<engine>/`` (``bench/_inbox_seed.py``), then measures, for a signed-in
agent, with warm-up rounds excluded:

* the query layer (always): a conversation-list page (first, a later keyset page, by status, by
  assignee, by label, search by phone) with the contacts' names decrypted through ``reveal``, and a
  50-message thread page (newest, and 2,500 messages back in the longest thread) with bodies decrypted;
  list pages both with a cold key cache (each page's contacts are new to the process, as in real use)
  and a warm one;
* the pages (``web:inbox``, ``web:conversation``) through Django's test Client, when those URLs exist,
  and the side panels the thread page then loads by htmx (``web:conversation_tools``,
  ``web:contact_panel``), each its own request;
* a bare indexed SELECT by primary key, so figures can be read against the machine's load.

Each case reports p50/p95/max in milliseconds, this process's CPU, PostgreSQL's server CPU (when the
server runs on this machine) and the queries it ran. SQLite by default;
``DATABASE_URL=postgresql://…/chatrk_inboxbench`` for PostgreSQL (that database is dropped and
recreated when (re)seeding). ``--reseed`` forces a new seed. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
SEED_VERSION = 1  # bump when _inbox_seed changes what it writes
LIST_DEPTH = 20  # pages followed to reach "a later page" of the list
THREAD_DEPTH = 50  # pages followed back in the longest thread (2,500 messages)
PAGE = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--reseed", action="store_true")
    options = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    engine = "postgresql" if database_url else "sqlite"
    var = REPO / "var" / "inboxbench" / f"{engine}-{options.conversations}-{options.messages}"
    if not (var / "seeded.json").exists():
        options.reseed = True  # nothing to reuse: start from an empty database
    if options.reseed:
        shutil.rmtree(var, ignore_errors=True)
        if database_url:
            _recreate_postgres(database_url)
    var.mkdir(parents=True, exist_ok=True)
    os.environ.update(CHATRK_VAR_DIR=str(var), DJANGO_SETTINGS_MODULE="chatrk.settings",
                      CHATRK_KEY_CACHE_SECONDS="600")  # fmt: skip
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # on a reused database: applies index migrations added since
    seeded = _seeded_or_reseed(var, options)
    from chatrk.core.planner import refresh_statistics

    refresh_statistics()  # as `chatrk run` does at start and the worker hourly
    result = {"bench": "inbox_pages", "database": engine, **seeded, **_measure(seeded, options.rounds)}
    _print_summary(result)
    print(json.dumps(result))


# --- seeding or reusing -------------------------------------------------------------------------------


def _fingerprint(conversations: int, messages: int) -> str:
    """What the seeded rows depend on: the seeded models' columns, the scale and the seed version."""
    from _inbox_seed import SEEDED_MODELS

    columns = [
        f"{model._meta.db_table}.{column.column}:{column.get_internal_type()}"
        for model in SEEDED_MODELS
        for column in model._meta.concrete_fields
    ]
    raw = json.dumps([SEED_VERSION, conversations, messages, columns])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _seeded_or_reseed(var: Path, options: argparse.Namespace) -> dict[str, Any]:
    from chatrk.core.models import Workspace

    marker = var / "seeded.json"
    fingerprint = _fingerprint(options.conversations, options.messages)
    if marker.exists():
        seeded: dict[str, Any] = json.loads(marker.read_text())
        fresh = seeded["fingerprint"] == fingerprint
        if fresh and Workspace.objects.filter(pk=seeded["workspace_id"]).exists():
            return {**seeded, "reused": True}
    if not options.reseed:  # a new process: settings, key caches and the var dir all start clean
        print("no matching seed: reseeding", file=sys.stderr, flush=True)
        os.execv(sys.executable, [sys.executable, *sys.argv, "--reseed"])  # noqa: S606
    from _inbox_seed import seed

    print(f"seeding {options.conversations:,} conversations, {options.messages:,} messages…", flush=True)
    done = seed(options.conversations, options.messages)
    seeded = {"fingerprint": fingerprint, "rows": _row_counts(), **vars(done)}
    marker.write_text(json.dumps(seeded))
    return {**seeded, "reused": False}


def _row_counts() -> dict[str, int]:
    from chatrk.crypto.models import DataKey
    from chatrk.inbox.models import Contact, Conversation, ConversationLabel, Message

    return {
        model._meta.model_name or "": model.objects.count()
        for model in (Conversation, Message, Contact, DataKey, ConversationLabel)
    }


def _recreate_postgres(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if not re.fullmatch(r"chatrk_\w+", name):
        raise SystemExit("DATABASE_URL must name a chatrk_* database: it is dropped and recreated")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")


# --- measuring ----------------------------------------------------------------------------------------


def _measure(seeded: dict[str, Any], rounds: int) -> dict[str, Any]:
    from chatrk.inbox.models import Conversation

    case = _Cases(seeded)
    any_conversation = Conversation.objects.filter(workspace_id=seeded["workspace_id"]).values_list(
        "pk", flat=True
    )[500]
    bare = _timed(lambda: list(Conversation.objects.filter(pk=any_conversation)), rounds * 5)
    layer = {
        name: _timed(run, rounds, cold=cold, bare=bare["p50_ms"]) for name, run, cold in case.query_layer()
    }
    pages = case.pages(rounds, bare["p50_ms"])
    return {"load_average": [round(x, 2) for x in os.getloadavg()], "bare_select": bare,
            "query_layer": layer, "views": pages}  # fmt: skip


class _Cases:
    def __init__(self, seeded: dict[str, Any]) -> None:
        from chatrk.core.models import Membership
        from chatrk.inbox.models import Message
        from chatrk.inbox.queries import ConversationFilter

        self.workspace_id: int = seeded["workspace_id"]
        self.membership = Membership.objects.select_related("user", "workspace").get(
            pk=seeded["agent_membership_id"]
        )
        self.user = self.membership.user
        self.seeded = seeded
        self.filters = {
            "list_first": ConversationFilter(),
            "list_status_open": ConversationFilter(status="open"),
            "list_status_snoozed": ConversationFilter(status="snoozed"),
            "list_assignee": ConversationFilter(assignee_user_id=self.user.pk),
            "list_unassigned": ConversationFilter(unassigned=True),
            "list_label": ConversationFilter(label_id=seeded["label_ids"][0]),
        }
        self.list_cursor = self._follow(
            lambda cursor: self._list_page(ConversationFilter(), cursor), LIST_DEPTH
        )
        self.thread = seeded["longest_conversation_id"]
        self.thread_depth = min(
            THREAD_DEPTH, Message.objects.filter(conversation_id=self.thread).count() // PAGE - 1
        )
        self.thread_cursor = self._follow(lambda cursor: self._thread_rows(cursor), self.thread_depth)

    @staticmethod
    def _follow(page: Callable[[str | None], Any], depth: int) -> str:
        cursor: str | None = None
        for _ in range(depth):
            cursor = page(cursor).next_cursor
            assert cursor is not None, "the seeded data is too small for that depth"
        assert cursor is not None, "follow at least one page"
        return cursor

    def _list_page(self, where: Any, cursor: str | None) -> Any:
        from chatrk.inbox import queries

        return queries.conversations(self.workspace_id, where, limit=PAGE, cursor=cursor)

    def _thread_rows(self, cursor: str | None) -> Any:
        from chatrk.inbox import queries

        return queries.messages(self.workspace_id, self.thread, limit=PAGE, cursor=cursor)

    def _names(self, conversations: list[Any]) -> list[Any]:
        from chatrk.crypto.reveal import reveal

        contacts = [conversation.contact for conversation in conversations]
        return reveal(self.user, self.membership, contacts, ["profile_name"])

    def list_case(self, where: Any, cursor: str | None = None) -> Callable[[], Any]:
        return lambda: self._names(self._list_page(where, cursor).rows)

    def thread_case(self, cursor: str | None) -> Callable[[], Any]:
        from chatrk.crypto.reveal import reveal
        from chatrk.inbox import queries

        def run() -> Any:
            conversation = queries.conversation(self.workspace_id, self.thread)
            assert conversation is not None
            rows = self._thread_rows(cursor).rows
            assert len(rows) == PAGE
            return reveal(self.user, self.membership, rows, ["body", "payload"])

        return run

    def search_case(self) -> Callable[[], Any]:
        from chatrk.inbox import queries
        from chatrk.inbox.queries import ConversationFilter

        def run() -> Any:
            found = queries.contacts_by_number(self.workspace_id, "+" + self.seeded["sample_phone"])
            assert found, "the seeded phone number is not found"
            where = ConversationFilter(contact_ids=tuple(contact.pk for contact in found))
            return self._names(self._list_page(where, None).rows)

        return run

    def query_layer(self) -> list[tuple[str, Callable[[], Any], bool]]:
        cases: list[tuple[str, Callable[[], Any], bool]] = []
        for name, where in self.filters.items():
            cases.append((f"{name}_cold_keys", self.list_case(where), True))
        cases.append(("list_first_warm_keys", self.list_case(self.filters["list_first"]), False))
        cases.append((f"list_page_{LIST_DEPTH + 1}_cold_keys", self.list_case(self.filters["list_first"],
                                                                   self.list_cursor), True))  # fmt: skip
        cases.append(("search_phone_cold_keys", self.search_case(), True))
        cases.append(("thread_first", self.thread_case(None), True))
        cases.append((f"thread_page_{self.thread_depth + 1}", self.thread_case(self.thread_cursor), True))
        return cases

    def pages(self, rounds: int, bare: float) -> dict[str, Any]:
        """The web pages, resolved by URL name; a page that does not exist yet is reported, not guessed."""
        from django.test import Client
        from django.urls import NoReverseMatch, reverse

        from chatrk.testing import signed_in

        client = signed_in(self.user, Client(HTTP_HOST="localhost"))
        slug = self.membership.workspace.slug
        found: dict[str, Any] = {}
        try:
            inbox = reverse("web:inbox", kwargs={"ws": slug})
        except NoReverseMatch:
            found["web:inbox"] = "skipped: no such URL yet"
        else:
            for name, query in self._list_queries().items():
                found[f"web:inbox {name}"] = self._page(client, f"{inbox}?{query}", rounds, bare)
            later = self._link(client, f"{inbox}?view=all", "cursor")
            if later:
                found["web:inbox next page"] = self._page(client, later, rounds, bare)
        for kwargs in ({"conversation_id": self.thread}, {"pk": self.thread}, {"id": self.thread}):
            try:
                thread = reverse("web:conversation", kwargs={"ws": slug, **kwargs})
            except NoReverseMatch:
                continue
            found["web:conversation first"] = self._page(client, thread, rounds, bare)
            older = self._link(client, thread, "before")  # the thread's older page, not the list's
            if older:
                found["web:conversation older"] = self._page(client, older, rounds, bare)
            found.update(self._panels(client, thread, rounds, bare))
            break
        else:
            found["web:conversation"] = "skipped: no such URL yet"
        return found

    def _list_queries(self) -> dict[str, str]:
        """The inbox views' parameters (``view`` all/mine/unassigned, ``status``, ``assignee`` a member
        id, ``label``, ``q``); the list's next page and the thread's older page are followed as links."""
        return {
            "first": "view=all",
            "mine": "view=mine",
            "unassigned": "view=unassigned",
            "status": "view=all&status=open",
            "assignee": f"view=all&assignee={self.seeded['agent_membership_id']}",
            "label": f"view=all&label={self.seeded['label_ids'][0]}",
            "search_phone": f"view=all&q=%2B{self.seeded['sample_phone']}",
        }

    @staticmethod
    def _link(client: Any, url: str, parameter: str) -> str | None:
        html = client.get(url).content.decode()
        match = re.search(rf'href="([^"]*[?&]{parameter}=[^"]+)"', html)
        return match.group(1).replace("&amp;", "&") if match else None

    def _panels(self, client: Any, thread: str, rounds: int, bare: float) -> dict[str, Any]:
        """The side panels the thread page loads by htmx once it is shown (``hx-trigger="load"``)."""
        from django.urls import resolve

        html = client.get(thread).content.decode()
        loaded = re.findall(r'hx-get="([^"]+)"[^>]*hx-trigger="load"', html)
        if not loaded:
            return {"web:conversation panels": "skipped: the thread page loads no panel by htmx"}
        found: dict[str, Any] = {}
        for url in loaded:
            url = url.replace("&amp;", "&")
            name = resolve(urlsplit(url).path).url_name
            found[f"web:{name} (htmx)"] = self._page(client, url, rounds, bare, htmx=True)
        return found

    @staticmethod
    def _page(client: Any, url: str, rounds: int, bare: float, *, htmx: bool = False) -> dict[str, Any] | str:
        from chatrk.crypto.keyring import clear_cache

        headers = {"HX-Request": "true"} if htmx else {}
        status = client.get(url, headers=headers).status_code
        if status != 200:
            return f"skipped: {url} answered {status}"

        def get() -> None:
            clear_cache()  # every page names contacts the process has not seen yet
            assert client.get(url, headers=headers).status_code == 200

        return _timed(get, rounds, bare=bare)


def _timed(run: Callable[[], Any], rounds: int, *, cold: bool = False, bare: float = 0.0) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chatrk.crypto.keyring import clear_cache

    for _ in range(3):  # warm-up: imports, prepared plans, the page cache
        run()
    server = _ServerCpu()
    times, cpu, server_cpu = [], [], []
    for _ in range(rounds):
        if cold:
            clear_cache()
        started, cpu_started, server_started = time.perf_counter(), time.process_time(), server.ms()
        run()
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        server_cpu.append(server.ms() - server_started)
    counts = set()
    for _ in range(2):
        if cold:
            clear_cache()
        with CaptureQueriesContext(connection) as queries:
            run()
        counts.add(len(queries))
    times.sort()
    figures: dict[str, Any] = {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 2),
        "max_ms": round(times[-1], 2),
        "queries": max(counts),
        # This process's CPU (SQLite runs inside it; PostgreSQL's own work is not counted): far less
        # disturbed than wall time when other processes share the cores.
        "cpu_p50_ms": round(statistics.median(cpu), 2),
    }
    if server.readable():
        figures["server_cpu_p50_ms"] = round(statistics.median(server_cpu), 2)
    if bare:
        figures["p50_over_bare_select"] = round(figures["p50_ms"] / bare, 1)
    return figures


class _ServerCpu:
    """CPU time of this connection's PostgreSQL backend, from ``/proc/<pid>/schedstat`` (nanoseconds on
    a core): only when the server runs on this machine, and only while the connection stays the same."""

    def __init__(self) -> None:
        from django.db import connection

        self.pid = 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = int(cursor.fetchone()[0])
        self.path = Path(f"/proc/{self.pid}/schedstat")

    def readable(self) -> bool:
        return self.pid != 0 and self.path.exists()

    def ms(self) -> float:
        if not self.readable():
            return 0.0
        return int(self.path.read_text().split()[0]) / 1e6


def _print_summary(result: dict[str, Any]) -> None:
    print(f"{result['database']}: seed {result['timings'].get('total_s')} s "
          f"({'reused' if result['reused'] else 'new'}), load {result['load_average']}")  # fmt: skip
    print(f"  bare select p50 {result['bare_select']['p50_ms']} ms")
    for group in ("query_layer", "views"):
        for name, figures in result[group].items():
            if isinstance(figures, str):
                print(f"  {name}: {figures}")
            else:
                server = figures.get("server_cpu_p50_ms")
                print(f"  {name}: p50 {figures['p50_ms']} p95 {figures['p95_ms']} max {figures['max_ms']} ms,"
                      f" cpu p50 {figures['cpu_p50_ms']} ms"
                      + (f", server cpu p50 {server} ms" if server is not None else "")
                      + f", {figures['queries']} queries")  # fmt: skip


if __name__ == "__main__":
    main()
