"""Strict tab-separated reading: every problem is a one-line MbpError naming file and line.

GLUE and XNLI files are read with NO quote processing (what `csv.QUOTE_NONE` does): their
sentences contain unbalanced double quotes (MRPC, MNLI, QNLI, ...), and a quote-aware reader
silently merges rows. A field is exactly the text between tabs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mbp.errors import MbpError


@dataclass
class Table:
    """A parsed TSV file: optional header, rows of equal width, and where row 0 sits in the file."""

    path: Path
    columns: list[str] | None
    rows: list[list[str]]
    first_line: int  # 1-based file line of rows[0] (2 when there is a header)

    def line_of(self, row: int) -> int:
        """The 1-based file line number of row index `row` (for error messages)."""
        return self.first_line + row

    def column(self, names: tuple[str, ...], what: str) -> int:
        """Index of the first header column named one of `names` (exact match)."""
        if self.columns is None:
            raise ValueError("column lookup by name on a file without a header")
        for name in names:
            if name in self.columns:
                return self.columns.index(name)
        looked = " or ".join(repr(n) for n in names)
        raise MbpError(
            f"{self.path}: no {what} column (looked for {looked}); the header has "
            f"{', '.join(repr(c) for c in self.columns)}: rename the column or use the "
            f"GLUE/XNLI file"
        )


def read_lines(path: Path) -> list[str]:
    """The file's lines, decoded as strict UTF-8, BOM and line endings removed.

    Trailing blank lines are dropped (they hold no data); any other blank line is kept so the
    width check reports it.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MbpError(f"{path}: file not found") from None
    except OSError as exc:
        raise MbpError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise MbpError(
            f"{path}: line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte "
            f"{column} of the line): re-save the file as UTF-8"
        ) from None
    text = text.removeprefix("\ufeff")  # MRPC's header starts with a byte-order mark
    # Split on "\n" only: str.splitlines() would also split inside fields at U+2028, \x1c, ...
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise MbpError(f"{path}: the file is empty: copy the original file again")
    return lines


def parse_table(path: Path, lines: list[str], has_header: bool) -> Table:
    """Split lines on tabs and check every row has the header's (or first row's) width."""
    rows = [line.split("\t") for line in lines]
    columns: list[str] | None = None
    first_line = 1
    if has_header:
        columns = [name.strip() for name in rows.pop(0)]
        first_line = 2
        if not rows:
            raise MbpError(f"{path}: the file has a header but no rows: copy the original again")
    width = len(columns) if columns is not None else len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            like = "the header" if columns is not None else "line 1"
            raise MbpError(
                f"{path}: line {first_line + i}: expected {width} tab-separated fields like "
                f"{like}, found {len(row)}: fix or remove that line"
            )
    return Table(path=path, columns=columns, rows=rows, first_line=first_line)
