"""The ``chatrk`` command.

``chatrk demo`` is the default: like ``chatrk run``, plus the WhatsApp Cloud API emulator with simulated
customers, wired to a channel in the first workspace. ``chatrk run`` is the embedded profile without the
emulator: migrate, print the one-time setup link while there is no owner, then start the web server and a
worker together. ``chatrk web`` and ``chatrk worker`` run one role each
(at scale, on as many machines as needed). Any other subcommand is a Django management command, e.g.
``chatrk createowner``, ``chatrk connect-channel`` or ``chatrk migrate``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatrk.settings")
    import django

    django.setup()


def _manage(argv: Sequence[str]) -> int:
    _django_setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["chatrk", *argv])
    return 0


def _serve_on(host: str, port: int) -> None:
    """Links printed by this process (setup, invitations) point where it serves, unless configured."""
    os.environ.setdefault("CHATRK_PUBLIC_URL", f"http://{host}:{port}")


def _web_command(host: str, port: int, workers: int) -> list[str]:
    """granian serves Django (WSGI) and, straight from disk, the collected static files."""
    _manage(["collectstatic", "--no-input", "-v", "0"])
    from django.conf import settings

    static = [
        "--static-path-route",
        settings.STATIC_URL.rstrip("/"),
        "--static-path-mount",
        str(settings.STATIC_ROOT),
    ]
    # Per worker. More help only while requests wait, as webhooks do for their group's INSERT: a group
    # holds at most one row per thread, and larger groups cost less per row (docs/pipeline.md §6).
    threads = os.environ.get("CHATRK_WEB_THREADS", "8")
    server = ["--interface", "wsgi", "--workers", str(workers), "--blocking-threads", threads, "--no-ws"]
    address = ["--host", host, "--port", str(port)]
    return [sys.executable, "-m", "granian", *server, *address, *static, "chatrk.wsgi:application"]


def web(host: str, port: int, workers: int) -> int:
    _serve_on(host, port)
    return subprocess.call(_web_command(host, port, workers))  # noqa: S603 (our own argv)


def worker(threads: int) -> int:
    _django_setup()
    from chatrk.core.tasks_backend import _huey_task, huey, register_periodic_tasks

    _huey_task()
    register_periodic_tasks()
    # The outbox sender runs beside the tasks (docs/outbound.md); CHATRK_SENDER=0 if `chatrk send` runs apart.
    if os.environ.get("CHATRK_SENDER", "1") != "0":
        from chatrk.outbound.sender import Sender

        threading.Thread(target=Sender().run, name="chatrk-sender", daemon=True).start()
    huey().create_consumer(workers=threads, worker_type="thread").run()
    return 0


def _migrate() -> None:
    """Brings the schema up to date, then the planner's statistics (hourly afterwards, by the worker)."""
    _manage(["migrate", "--no-input", "-v", "0"])
    from chatrk.core.planner import refresh_statistics

    refresh_statistics()


def run(host: str, port: int) -> int:
    """Embedded: one process tree with web and worker; Ctrl-C stops both."""
    _serve_on(host, port)
    _migrate()
    from chatrk.accounts.actions import announce_setup_link

    announce_setup_link(print)
    children = [
        subprocess.Popen(_web_command(host, port, workers=2)),  # noqa: S603 (our own argv)
        subprocess.Popen([sys.executable, "-m", "chatrk", "worker"]),
        subprocess.Popen([sys.executable, "-m", "chatrk", "drain", "--loop"]),  # inbound webhooks
    ]
    print(f"Chatrk is running at http://{host}:{port}/ (Ctrl-C stops it)", flush=True)

    def stop(*_: object) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        return max(child.wait() for child in children)
    except KeyboardInterrupt:
        stop()
        return 0


def demo(host: str, port: int, emulator_port: int) -> int:
    """Embedded, with the Cloud API emulator and customers writing in; Ctrl-C stops everything."""
    _serve_on(host, port)
    _migrate()
    from chatrk import demo as wiring

    command = _web_command(host, port, workers=2)
    return wiring.run(host, port, web_command=command, emulator_port=emulator_port)


# Management commands spelt the way people type them.
ALIASES = {"connect-channel": "connectchannel"}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="chatrk", description=__doc__.split("\n\n")[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="command")
    for name in ("demo", "run", "web"):
        role = sub.add_parser(name)
        role.add_argument("--host", default=os.environ.get("CHATRK_HOST", "127.0.0.1"))
        role.add_argument("--port", type=int, default=int(os.environ.get("CHATRK_PORT", "8000")))
        if name == "web":
            role.add_argument("--workers", type=int, default=int(os.environ.get("CHATRK_WEB_WORKERS", "2")))
        if name == "demo":
            role.add_argument("--emulator-port", type=int, default=0, help="default: any free port")
    sub.add_parser("worker").add_argument("--threads", type=int, default=4)
    known = {"demo", "run", "web", "worker", "-h", "--help"}
    if not args:
        args = ["demo"]
    if args[0] in ALIASES:
        args[0] = ALIASES[args[0]]
    if args[0] not in known:
        return _manage(args)
    options = parser.parse_args(args)
    match options.command:
        case "demo":
            return demo(options.host, options.port, options.emulator_port)
        case "run":
            return run(options.host, options.port)
        case "web":
            return web(options.host, options.port, options.workers)
        case _:
            return worker(options.threads)
