"""AES-GCM nonces: never repeated, across threads and across a fork."""

from __future__ import annotations

import os
import threading

import pytest

from chatrk.crypto.aead import NONCE_BYTES, new_key, open_bytes, random_nonce, seal_bytes


def test_sealed_values_carry_distinct_nonces_and_open() -> None:
    key = new_key()
    sealed = [seal_bytes(key, b"Sheena Nelson", b"aad") for _ in range(2_000)]
    assert len({blob[:NONCE_BYTES] for blob in sealed}) == 2_000
    assert {open_bytes(key, blob, b"aad", what="test") for blob in sealed} == {b"Sheena Nelson"}


def test_threads_draw_from_pools_of_their_own() -> None:
    drawn: list[bytes] = []
    lock = threading.Lock()

    def draw() -> None:
        mine = [random_nonce() for _ in range(1_000)]  # several refills each
        with lock:
            drawn.extend(mine)

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(drawn) == len(set(drawn)) == 8_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_its_parents_nonces() -> None:
    random_nonce()  # the pool now holds the next 255 nonces; the child inherits a copy of it
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child process)
        os.write(writer, b"".join(random_nonce() for _ in range(3)))
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    childs = os.read(reader, 3 * NONCE_BYTES)
    os.close(reader)
    parents = b"".join(random_nonce() for _ in range(3))
    assert len(childs) == 3 * NONCE_BYTES and childs != parents
