"""Bench helpers without Django: webhook bodies and the PostgreSQL bench database."""

from __future__ import annotations

import json
import os


def ensure_postgres_database() -> None:
    """A fresh bench database: each run has its own key file, so an old database's keys are unreadable.

    Only a database named ``chatrk_bench…`` is dropped and recreated; any other is created if missing.
    """
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if name.startswith("chatrk_bench"):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def body_for(n: int, *, number: str, customer: int) -> bytes:
    message = {
        "from": str(customer),
        "id": f"wamid.bench{n:012d}",
        "timestamp": "1760000000",
        "type": "text",
        "text": {"body": "Hi, is my order on its way? " * 2},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": str(customer)}],
        "messages": [message],
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(document).encode()
