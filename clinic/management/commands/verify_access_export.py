"""`manage.py verify_access_export <file>`: whether an access-log export (or an archived month,
`.csv.gz`) is complete: its last line's row count and SHA-256 match the rest of the file."""

from __future__ import annotations

import contextlib
import gzip
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from clinic.selectors.access import ExportIncomplete, access_export_verify


def _opened(raw: IO[bytes], *, compressed: bool) -> Any:
    return gzip.GzipFile(fileobj=raw) if compressed else contextlib.nullcontext(raw)


class Command(BaseCommand):
    help = "Checks that an access-log CSV export or archive is complete (its trailer's count and SHA-256)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            with path.open("rb") as raw, _opened(raw, compressed=path.suffix == ".gz") as stream:
                rows = access_export_verify(stream)
        except OSError as error:
            raise CommandError(f"file: cannot read {path}: {error.strerror or error}") from error
        except ExportIncomplete as error:
            raise CommandError(f"file: {error}") from error
        self.stdout.write(f"Complete: {rows} rows, checksum matches.")
