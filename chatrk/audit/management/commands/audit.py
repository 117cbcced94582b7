"""``chatrk audit``: verify the log, publish checkpoints, print proofs and the verifier key.

    chatrk audit verify [--checkpoints FILE] [--verifier-key KEY]
    chatrk audit checkpoint [--if-due]
    chatrk audit prove inclusion SEQ [--size N]
    chatrk audit prove consistency FIRST SECOND
    chatrk audit public-key
    chatrk audit guard

``verify`` exits 1 and names the first bad seq if anything is wrong.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router

from chatrk.audit import checkpoints, merkle
from chatrk.audit.checkpoints import CheckpointError, LogIntegrityError, VerifierKey
from chatrk.audit.guard import install_guards, missing_guards
from chatrk.audit.models import AuditEvent
from chatrk.audit.proofs import ProofRequestError, prove_consistency, prove_inclusion
from chatrk.audit.verify import VerificationError, verify_log


class Command(BaseCommand):
    help = "Verify the audit log, publish signed checkpoints, and print inclusion/consistency proofs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        verify = sub.add_parser("verify", help="check every event and every signed checkpoint")
        verify.add_argument("--checkpoints", type=Path, help="an exported checkpoint file (the sink)")
        verify.add_argument("--verifier-key", help="trust only this key (from `chatrk audit public-key`)")
        checkpoint = sub.add_parser("checkpoint", help="sign and export a checkpoint now")
        checkpoint.add_argument(
            "--if-due", action="store_true", help="only when N events or M minutes passed"
        )
        prove = sub.add_parser("prove", help="print a proof as JSON")
        kinds = prove.add_subparsers(dest="kind", required=True)
        inclusion = kinds.add_parser("inclusion")
        inclusion.add_argument("seq", type=int)
        inclusion.add_argument("--size", type=int, help="tree size (default: the latest checkpoint's)")
        consistency = kinds.add_parser("consistency")
        consistency.add_argument("first", type=int)
        consistency.add_argument("second", type=int)
        sub.add_parser("public-key", help="print the checkpoint verifier key to pin")
        sub.add_parser("guard", help="(re)install the append-only triggers")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            match options["subcommand"]:
                case "verify":
                    self._verify(options["checkpoints"], options["verifier_key"])
                case "checkpoint":
                    self._checkpoint(if_due=options["if_due"])
                case "prove" if options["kind"] == "inclusion":
                    self._prove_inclusion(options["seq"], options["size"])
                case "prove":
                    self._prove_consistency(options["first"], options["second"])
                case "guard":
                    install_guards(connections[router.db_for_write(AuditEvent)])
                    self.stdout.write("append-only guards installed")
                case _:
                    self.stdout.write(str(checkpoints.verifier_key()))
        except (CheckpointError, LogIntegrityError, ProofRequestError, merkle.ProofError) as error:
            raise CommandError(str(error)) from None

    def _verify(self, exported: Path | None, pinned_key: str | None) -> None:
        notes = checkpoints.read_exported_notes(exported) if exported else []
        verifiers = [VerifierKey.parse(pinned_key)] if pinned_key else None
        try:
            report = verify_log(exported_notes=notes, verifiers=verifiers)
        except VerificationError as error:
            raise CommandError(f"audit log verification FAILED: {error}") from None
        missing = missing_guards(connections[router.db_for_write(AuditEvent)])
        if missing:
            names = ", ".join(missing)
            self.stderr.write(
                f"WARNING: append-only guards missing: {names} (`chatrk audit guard` reinstalls them)"
            )
        self.stdout.write(
            f"audit log OK: {report.tree_size} events, {report.checkpoints_checked} signed checkpoints "
            f"consistent (latest at size {report.latest_checkpoint_size}); "
            f"{report.pending} committed events not sequenced yet"
        )

    def _checkpoint(self, *, if_due: bool) -> None:
        published = checkpoints.publish_if_due() if if_due else checkpoints.publish_checkpoint()
        if published is None:
            self.stdout.write("no new events since the latest checkpoint" if not if_due else "not due")
            return
        self.stdout.write(published.note)

    def _latest_size(self) -> int:
        latest = checkpoints.latest_checkpoint()
        if latest is None:
            raise CommandError("no checkpoint has been published yet: run `chatrk audit checkpoint`")
        return latest.tree_size

    def _prove_inclusion(self, seq: int, size: int | None) -> None:
        event = AuditEvent.objects.filter(seq=seq).first()
        if event is None:
            raise CommandError(f"there is no event with seq {seq}")
        proof = prove_inclusion(event, size if size is not None else self._latest_size())
        merkle.verify_inclusion(proof.seq, proof.tree_size, proof.leaf_hash, proof.path, proof.root_hash)
        self._print_json(
            {
                "seq": proof.seq,
                "tree_size": proof.tree_size,
                "entry": proof.entry.decode(),
                "leaf_hash": proof.leaf_hash.hex(),
                "proof": [node.hex() for node in proof.path],
                "root_hash": proof.root_hash.hex(),
            }
        )

    def _prove_consistency(self, first: int, second: int) -> None:
        proof = prove_consistency(first, second)
        merkle.verify_consistency(first, second, proof.first_root, proof.second_root, proof.path)
        self._print_json(
            {
                "first_size": first,
                "second_size": second,
                "proof": [node.hex() for node in proof.path],
                "first_root": proof.first_root.hex(),
                "second_root": proof.second_root.hex(),
            }
        )

    def _print_json(self, payload: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(payload, indent=2))
