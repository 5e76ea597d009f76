"""Verify the ledger's hash chain (in the database or in an exported bundle), or export it."""

import sys

from django.core.management.base import BaseCommand, CommandError

from governance import checkpoints, ledger


class Command(BaseCommand):
    help = (
        "Seal pending entries, then recompute the hash chain and check it against the latest "
        "signed checkpoint (AUTONOMY_LEDGER_CHECKPOINT_SINK); exit 1 naming the first bad "
        "entry. --export FILE writes a JSON Lines bundle; --file FILE verifies one offline."
    )

    def add_arguments(self, parser):
        parser.add_argument("--export", metavar="FILE", help="write a verifiable bundle")
        parser.add_argument("--file", metavar="FILE", help="verify a bundle, not the database")
        parser.add_argument("--no-seal", action="store_true", help="verify only; seal nothing")
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="do not check the chain against the latest signed checkpoint",
        )
        parser.add_argument(
            "--expect-head",
            metavar="HASH",
            help="a chain hash printed by an earlier run: fail if it is no longer in the chain "
            "(the newest entries and their seals were deleted)",
        )

    def handle(
        self,
        *args,
        export=None,
        file=None,
        no_seal=False,
        no_checkpoint=False,
        expect_head=None,
        **options,
    ):
        if file:
            try:
                with open(file, encoding="utf-8") as stream:
                    result = ledger.verify_bundle(stream)
            except OSError as exc:
                raise CommandError(f"Cannot read {file}: {exc}") from exc
            return self._report(result, source=file)
        if not no_seal:
            ledger.seal_pending(wait=True)
        result = ledger.verify_database()
        if result.ok and expect_head and not ledger.contains_chain_hash(expect_head):
            self.stderr.write(
                f"Ledger TAMPERED (database): chain hash {expect_head[:16]} is gone "
                "(entries after it were deleted)"
            )
            sys.exit(1)
        checked_against = ""
        if result.ok and not no_checkpoint:
            try:
                check = checkpoints.check_latest()
            except checkpoints.CheckpointError as exc:
                raise CommandError(
                    f"Cannot check the latest checkpoint: {exc} (--no-checkpoint skips it)"
                ) from exc
            if check.problem is not None:
                self.stderr.write(f"Ledger TAMPERED (checkpoint): {check.problem}")
                sys.exit(1)
            checked_against = f"; {check.summary()}"
        if export:
            if not result.ok:
                self._report(result, source="database")
            with open(export, "w", encoding="utf-8") as stream:
                count = ledger.export_bundle(stream)
            self.stdout.write(f"Exported {count} entries to {export}.")
        return self._report(result, source="database", extra=checked_against)

    def _report(self, result, source: str, extra: str = ""):
        if result.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Ledger OK ({source}): {result.checked} entries, head {result.head_hash}"
                    f"{extra}"
                )
            )
            return
        self.stderr.write(f"Ledger TAMPERED ({source}): {result.problem}")
        sys.exit(1)
