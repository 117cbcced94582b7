"""`chatrk emulator ...`: serve the emulator, or inspect a running one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from emulator.config import load_config
from emulator.scenario import load_scenario

INSPECT_VIEWS = ("state", "messages", "deliveries", "templates", "faults", "customer")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatrk emulator", description="WhatsApp Cloud API emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator (default)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--config", type=Path, help="accounts and behaviour, JSON or TOML")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="granian workers; with more than 1, a state-owner process keeps one shared state",
    )
    serve.add_argument("--log-access", action="store_true")
    serve.add_argument("--scenario", type=Path, help="scenario file (JSON or TOML) to run at start-up")
    inspect = commands.add_parser("inspect", help="show a running emulator's state")
    inspect.add_argument("view", choices=INSPECT_VIEWS)
    inspect.add_argument("wa_id", nargs="?", help="customer wa_id for the 'customer' view")
    inspect.add_argument("--url", default="http://127.0.0.1:8765")
    inspect.add_argument("--state", dest="delivery_state", help="deliveries: pending/delivered/dropped")
    inspect.add_argument("--limit", type=int, default=50)
    scenario = commands.add_parser(
        "scenario", help="run a scenario file (JSON or TOML) on a running emulator"
    )
    scenario.add_argument("file", type=Path)
    scenario.add_argument("--url", default="http://127.0.0.1:8765")
    check = commands.add_parser("check-config", help="validate a config file and print the accounts")
    check.add_argument("config", type=Path)
    return parser


def _inspect(args: argparse.Namespace) -> int:
    path = {"customer": f"/_emulator/customers/{args.wa_id}"}.get(args.view, f"/_emulator/{args.view}")
    if args.view == "customer" and not args.wa_id:
        print("the customer view needs a wa_id", file=sys.stderr)
        return 2
    params = {"limit": str(args.limit)}
    if args.delivery_state:
        params["state"] = args.delivery_state
    try:
        response = httpx.get(args.url.rstrip("/") + path, params=params, timeout=10)
    except httpx.HTTPError as error:
        print(f"cannot reach the emulator at {args.url}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    return 0 if response.status_code == 200 else 1


def _scenario(path: Path, url: str) -> int:
    try:
        spec = load_scenario(path)
    except (OSError, ValueError) as error:
        print(f"cannot read scenario {path}: {error}", file=sys.stderr)
        return 1
    try:
        response = httpx.post(url.rstrip("/") + "/_emulator/scenario", json=spec, timeout=30)
    except httpx.HTTPError as error:
        print(f"cannot reach the emulator at {url}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    return 0 if response.status_code == 200 else 1


def _check_config(path: Path) -> int:
    try:
        config = load_config(path)
    except (OSError, ValueError, KeyError) as error:
        print(f"invalid config {path}: {error}", file=sys.stderr)
        return 1
    for account in config.accounts:
        numbers = ", ".join(
            f"{p.id} ({p.display_phone_number}, {p.throughput})" for p in account.phone_numbers
        )
        tier, webhook = account.messaging_tier, account.callback_url
        print(f"WABA {account.waba_id}: {numbers}; tier {tier}; webhook {webhook}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help")):
        args_list.insert(0, "serve")
    args = _parser().parse_args(args_list)
    if args.command == "inspect":
        return _inspect(args)
    if args.command == "scenario":
        return _scenario(args.file, args.url)
    if args.command == "check-config":
        return _check_config(args.config)
    from emulator.server import serve

    serve(
        args.host,
        args.port,
        args.config,
        workers=args.workers,
        log_access=args.log_access,
        scenario_path=args.scenario,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
