"""Reading a file as it comes into a DuckDB staging table of text cells, with each row's place in the file.

Every format ends in the same temporary table ``loader_staging`` (one text
column per source column, named ``c0``, ``c1``, ... so that no header text ever
becomes SQL, plus ``file_row``: for CSV and TSV the line of the file where the
row starts, as a text editor numbers lines (the header being line 1; a row whose
quoted cells hold line breaks spans several lines and is named by its first);
for Excel the sheet's row number; for Parquet the row's position from 1). CSV
and TSV are numbered line by line in one streaming pass, then go through
DuckDB's own CSV reader with every option given explicitly; Excel is streamed row by row through openpyxl's
read-only mode into a UTF-8 CSV first; Parquet is read by DuckDB directly.
Nothing is held in pandas, so a file up to the upload limit stays in bounded
memory.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import shutil
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import duckdb

from customer_value.errors import UserFacingError

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
# An .xlsx is a zip archive; a workbook that expands beyond this (or far beyond
# its own size) is a zip bomb or too big to read safely; CSV is the way to load it.
MAX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
CHUNK_BYTES = 1024 * 1024
# One record (a row, with the lines of its quoted cells) longer than this is a quote never closed.
MAX_RECORD_BYTES = 10_000_000
DELIMITER_CANDIDATES = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "space", ":": "colon"}
STAGING_TABLE = "loader_staging"
_RAW_TABLE = "loader_raw"
_REJECTS_TABLE = "loader_rejects"
_REJECT_SCANS_TABLE = "loader_reject_scans"

DATE_ORDERS = ("DMY", "MDY", "YMD")
CANCELLATION_TREATMENTS = ("net", "exclude")

# Magic numbers of files people rename to .csv by mistake.
_BINARY_SIGNATURES = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a bitmap image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a media file"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
)
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_SIGNATURE = b"PK\x03\x04"
_PARQUET_SIGNATURE = b"PAR1"
_ENCODING_CANDIDATES = ["gb18030", "big5", "cp1252", "latin_1"]


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; ``None`` means "detect it".

    Attributes
    ----------
    encoding : str or None
        Text encoding of a CSV (e.g. ``utf-8``, ``gb18030``, ``latin-1``).
    delimiter : str or None
        Field separator of a CSV: one character (``,`` ``;`` tab ``|`` ...).
    date_order : {'DMY', 'MDY', 'YMD'} or None
        Order of day, month and year in dates written with numbers only.
    decimal : {'.', ','} or None
        Decimal separator of numbers.
    sheet : str or None
        Sheet of an Excel workbook (required when it has several).
    cancellations : {'net', 'exclude'}
        ``net`` loads cancellation lines so they reduce revenue; ``exclude`` leaves them out.
    header_row : int or None
        Row (1 = first) holding the column names; default the first row.
    """

    encoding: str | None = None
    delimiter: str | None = None
    date_order: str | None = None
    decimal: str | None = None
    sheet: str | None = None
    cancellations: str = "net"
    header_row: int | None = None

    def __post_init__(self) -> None:
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise UserFacingError(
                    f"'{self.encoding}' is not a known text encoding; try utf-8, gb18030 or latin-1"
                ) from None
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise UserFacingError(f"the delimiter must be one character, not '{self.delimiter}'")
        if self.delimiter is not None and self.delimiter in "\"\r\n":
            raise UserFacingError("a quote or line break cannot be the delimiter")
        if self.date_order is not None and self.date_order not in DATE_ORDERS:
            raise UserFacingError(f"date order must be one of {', '.join(DATE_ORDERS)}, not '{self.date_order}'")
        if self.decimal is not None and self.decimal not in (".", ","):
            raise UserFacingError(f"the decimal separator must be '.' or ',', not '{self.decimal}'")
        if self.cancellations not in CANCELLATION_TREATMENTS:
            raise UserFacingError(
                f"cancellations must be 'net' or 'exclude', not '{self.cancellations}'"
            )
        if self.header_row is not None and (not isinstance(self.header_row, int) or self.header_row < 1):
            raise UserFacingError("the header row must be a row number from 1")


class SheetChoiceNeeded(UserFacingError):
    """An Excel workbook has several sheets and none was chosen; ``sheets`` lists them."""

    def __init__(self, message: str, sheets: list[str]):
        super().__init__(message)
        self.sheets = sheets


@dataclass
class RaggedRow:
    file_row: int
    reason: str
    text: str


@dataclass
class StagedFile:
    """A file read into ``loader_staging``; ``cleanup()`` drops the tables and temporary files."""

    source_name: str
    path: Path
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    sheet_names: list[str]
    columns: list[str]
    content_hash: str
    rows: int
    ragged: list[RaggedRow] = field(default_factory=list)
    blank_rows: int = 0
    notices: list[str] = field(default_factory=list)
    _temp_dir: Path | None = None

    def sql_column(self, column: str) -> str:
        """The staging column (``c<i>``) holding the source column; safe to place in SQL."""
        return f"c{self.columns.index(column)}"

    def cleanup(self, con: duckdb.DuckDBPyConnection) -> None:
        _drop_staging(con)
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None


def describe_delimiter(delimiter: str | None) -> str | None:
    if delimiter is None:
        return None
    return DELIMITER_NAMES.get(delimiter, delimiter)


def stage_file(con: duckdb.DuckDBPyConnection, path: str | Path, options: ReadOptions,
               source_name: str | None = None, progress=None, max_bytes: int = MAX_UPLOAD_BYTES) -> StagedFile:
    """Read ``path`` into the temporary table ``loader_staging`` on ``con``.

    ``max_bytes`` is the largest file accepted: the browser upload limit by
    default; the command line may raise it for scheduled loads of large exports.

    Raises
    ------
    UserFacingError
        For anything that stops the whole file: missing, empty, too big, not a
        table, macros, several sheets, no data rows, wrong delimiter.
    """
    path = Path(path)
    name = source_name or path.name
    if not path.is_file():
        raise UserFacingError(f"{name}: there is no such file")
    size = path.stat().st_size
    if size == 0:
        raise UserFacingError(f"{name}: the file is empty (0 bytes); export it again with its data")
    if size > max_bytes:
        raise UserFacingError(
            f"{name}: the file is {size / 1024 / 1024:.0f} MB, over the {max_bytes // 1024 // 1024} MB "
            "limit; split it into smaller exports (e.g. one per month) and load them one after the other, "
            "or load it with the command line's --max-file-mb"
        )
    with path.open("rb") as handle:
        head = handle.read(8192)
    file_format = _sniff_format(path, head, name)
    temp_dir = Path(tempfile.mkdtemp(prefix="cv-loader-"))
    _drop_staging(con)
    try:
        if file_format == "parquet":
            staged = _stage_parquet(con, path, name)
        elif file_format == "excel":
            staged = _stage_excel(con, path, name, options, temp_dir, progress)
        else:
            staged = _stage_text(con, path, name, head, options, temp_dir, progress)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        _drop_staging(con)
        raise
    staged._temp_dir = temp_dir
    return staged


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("drop view if exists " + STAGING_TABLE)
    for table in (_RAW_TABLE, _REJECTS_TABLE, _REJECT_SCANS_TABLE):
        con.execute("drop table if exists " + table)


def _sniff_format(path: Path, head: bytes, name: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".xlsm" or suffix == ".xltm":
        raise UserFacingError(
            f"{name}: Excel files with macros (.xlsm) are not loaded, because macros can run code; "
            "save the sheet as .xlsx or CSV and load that"
        )
    if head.startswith(_OLE2_SIGNATURE):
        raise UserFacingError(
            f"{name}: this is an old-style Excel (.xls) or Office file; save it as .xlsx or CSV and load that"
        )
    if head.startswith(_ZIP_SIGNATURE):
        return "excel"
    if head.startswith(_PARQUET_SIGNATURE):
        return "parquet"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "text"
    for signature, description in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise UserFacingError(
                f"{name}: this is {description}, not a table; choose the CSV, Excel or Parquet export instead"
            )
    if b"\x00" in head:
        raise UserFacingError(
            f"{name}: this is a binary file, not a text table (it contains NUL bytes); "
            "choose the CSV, Excel or Parquet export instead"
        )
    if suffix in (".xlsx", ".parquet"):
        raise UserFacingError(f"{name}: the file is named {suffix} but is not one; export it again")
    return "text"


# ---------------------------------------------------------------------------
# CSV / TSV


# A line holding nothing but spaces or tabs (Python's bytes.strip() whitespace, less the line feed).
_BLANK_LINE = re.compile(rb"\n[ \t\x0b\x0c\r]*\n")


@dataclass
class _TextScan:
    content_hash: str
    utf8_valid: bool
    # No quote or blank line anywhere and one kind of line end ("\n" or "\r\n", else None):
    # every line is one record, so the reader's row order gives each row's line without
    # numbering the file in Python.
    line_end: str | None


def _scan_text_file(path: Path) -> _TextScan:
    """SHA-256 of the file, whether all of it is valid UTF-8, and whether each line is one record.

    One pass, with the hash computed in a second thread (hashlib lets go of the
    interpreter lock, so it runs beside the checks). The UTF-8 decoder runs only
    on chunks that are not plain ASCII. Line ends are counted in a second pass,
    and only for files with a carriage return that are otherwise plain.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    valid = True
    plain = True
    carriage_return_seen = False
    # The end of the previous chunk from its last line end, so a blank line split across chunks is seen.
    carry = b"\n"
    with ThreadPoolExecutor(max_workers=1) as hasher:
        hashing = None
        for chunk in _chunks(path):
            if hashing is not None:
                hashing.result()  # one chunk hashing while the next is read: memory stays two chunks
            hashing = hasher.submit(digest.update, chunk)
            # A chunk of ASCII is valid UTF-8 on its own, unless the decoder holds the start of a character.
            if valid and not (chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
            if plain:
                text = carry + chunk
                if b'"' in chunk or _BLANK_LINE.search(text):
                    plain = False
                carriage_return_seen = carriage_return_seen or b"\r" in chunk
                carry = text[text.rfind(b"\n"):]
                if len(carry) > 64 and carry[1:].strip():
                    carry = b"\nx"  # the open line has a character: it cannot turn out blank
        if hashing is not None:
            hashing.result()
        if valid:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                valid = False
    if plain and len(carry) > 1 and not carry[1:].strip():
        plain = False  # the last line holds only spaces
    line_end = None
    if plain and not carriage_return_seen:
        line_end = "\n"
    elif plain and _only_windows_line_ends(path):
        line_end = "\r\n"  # every line ends in "\r\n" (Windows), and no "\r" stands elsewhere
    return _TextScan(digest.hexdigest(), valid, line_end)


def _only_windows_line_ends(path: Path) -> bool:
    """Whether every line feed of the file follows a carriage return and every carriage return precedes one."""
    line_feeds = carriage_returns = windows_line_ends = 0
    previous_last = b""
    for chunk in _chunks(path):
        line_feeds += chunk.count(b"\n")
        carriage_returns += chunk.count(b"\r")
        windows_line_ends += (previous_last + chunk).count(b"\r\n")
        previous_last = chunk[-1:]
    return carriage_returns == windows_line_ends == line_feeds


def _chunks(path: Path):
    """The file's bytes in pieces of CHUNK_BYTES, so a file of any size is read in bounded memory."""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def detect_encoding(path: Path, head: bytes, utf8_valid: bool) -> str:
    """The encoding of a text file: BOM first, then valid UTF-8, then charset-normalizer on a sample."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if utf8_valid:
        return "utf-8"
    from charset_normalizer import from_bytes

    with path.open("rb") as handle:
        sample = handle.read(CHUNK_BYTES)
    # A sample cut inside a multi-byte character would look invalid in every encoding.
    cut = sample.rfind(b"\n")
    if cut > 0:
        sample = sample[: cut + 1]
    best = from_bytes(sample, cp_isolation=_ENCODING_CANDIDATES).best()
    if best is None:
        return "latin-1"
    encoding = best.encoding
    if encoding in ("gb2312", "gbk", "gb18030", "hz"):
        return "gb18030"
    if encoding in ("latin_1", "iso8859_1"):
        return "latin-1"
    return encoding


def _transcode(path: Path, encoding: str, target: Path, name: str) -> None:
    """Rewrite the file as UTF-8 in chunks (DuckDB's CSV reader reads UTF-8 only)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    lines = 1
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
        while True:
            chunk = source.read(CHUNK_BYTES)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = lines + chunk[: exc.start].count(b"\n")
                raise UserFacingError(
                    f"{name}: the file is not valid {encoding} text at line {line} (byte {offset + exc.start}); "
                    "choose the file's encoding by hand (utf-8, gb18030, latin-1)"
                ) from None
            if text.startswith("\ufeff") and offset == 0:
                text = text[1:]
            out.write(text)
            if not chunk:
                break
            offset += len(chunk)
            lines += chunk.count(b"\n")


def _sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter appearing most often in the header line (outside quotes)."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {candidate: unquoted.count(candidate) for candidate in DELIMITER_CANDIDATES}
    best = max(counts, key=lambda candidate: counts[candidate])
    return best if counts[best] else ","


def _clean_column_names(raw: list[str]) -> list[str]:
    names: list[str] = []
    for position, value in enumerate(raw, start=1):
        text = (value or "").strip().lstrip("\ufeff").strip()
        if not text:
            text = f"column {position}"
        candidate = text
        copy = 2
        while candidate in names:
            candidate = f"{text} ({copy})"
            copy += 1
        names.append(candidate)
    return names


def _read_header(utf8_path: Path, skip: int, delimiter: str | None, name: str) -> tuple[list[str], str]:
    with utf8_path.open("r", encoding="utf-8-sig", newline="") as handle:
        text = handle.read(CHUNK_BYTES)
    return _header_from_text(text, skip, delimiter, name)


def _header_from_text(text: str, skip: int, delimiter: str | None, name: str) -> tuple[list[str], str]:
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if len(lines) <= skip or not "".join(lines[skip:]).strip():
        if skip:
            raise UserFacingError(f"{name}: the file has no row {skip + 1} to read the column names from")
        raise UserFacingError(f"{name}: the file holds no text; export it again with its data")
    header_line = lines[skip]
    if not header_line.strip():
        raise UserFacingError(
            f"{name}: row {skip + 1}, where the column names should be, is blank; "
            "remove the blank lines above the header or choose the header row"
        )
    chosen = delimiter or _sniff_delimiter(header_line)
    reader = csv.reader(io.StringIO("".join(lines[skip:])), delimiter=chosen, quotechar='"')
    try:
        header = next(reader)
    except (csv.Error, StopIteration):
        if header_line.endswith("\r"):
            raise UserFacingError(
                f"{name}: the lines end in a bare carriage return (old Mac line endings) from line {skip + 1} on; "
                "save the file with Windows or Unix line endings"
            ) from None
        raise UserFacingError(f"{name}: the column names in row {skip + 1} cannot be read") from None
    columns = _clean_column_names(header)
    if len(columns) == 1:
        others = [candidate for candidate in DELIMITER_CANDIDATES
                  if candidate != chosen and candidate in header_line]
        if others:
            raise UserFacingError(
                f"{name}: with the {describe_delimiter(chosen)} delimiter the file has a single column "
                f"('{columns[0][:60]}'); it looks separated by {describe_delimiter(others[0])}s. "
                "Choose that delimiter"
            )
    return columns, chosen


def _stage_text(con, path: Path, name: str, head: bytes, options: ReadOptions, temp_dir: Path,
                progress) -> StagedFile:
    scan = _scan_text_file(path)
    encoding = options.encoding or detect_encoding(path, head, scan.utf8_valid)
    notices = []
    if codecs.lookup(encoding).name == "utf-8" and scan.utf8_valid:
        utf8_path = path
    elif codecs.lookup(encoding).name == "utf-8":
        raise UserFacingError(
            f"{name}: the file is not valid UTF-8 text; choose its encoding by hand (gb18030, latin-1)"
        )
    else:
        if progress:
            progress(0.05, f"converting from {encoding} to UTF-8")
        utf8_path = temp_dir / "transcoded.csv"
        _transcode(path, encoding, utf8_path, name)
    skip = (options.header_row or 1) - 1
    columns, delimiter = _read_header(utf8_path, skip, options.delimiter, name)
    staged = StagedFile(source_name=name, path=path, format="csv", encoding=encoding, delimiter=delimiter,
                        sheet=None, sheet_names=[], columns=columns, content_hash=scan.content_hash, rows=0,
                        notices=notices)
    if scan.line_end and utf8_path == path and skip == 0:
        if progress:
            progress(0.2, "reading the file")
        _read_csv_into_staging(con, path, name, columns, delimiter, line_end=scan.line_end)
        if not _table_exists(con, _REJECTS_TABLE) or not con.execute(
                "select count(*) from " + _REJECTS_TABLE).fetchone()[0]:
            # Data starts on line 2 and no line was left out, so row i (from 0) is line i + 2.
            _finish_staging(con, staged, first_data_line=2)
            return staged
        # A row the reader could not split is missing from the table, so positions no longer give
        # lines: number the lines after all (rare: only files with ragged rows pay for it).
        _drop_staging(con)
    if progress:
        progress(0.1, "numbering the file's lines")
    numbered_path = temp_dir / "numbered.csv"
    staged.blank_rows, staged.ragged = _number_lines(utf8_path, numbered_path, skip, delimiter, name)
    if progress:
        progress(0.2, "reading the file")
    _read_csv_into_staging(con, numbered_path, name, columns, delimiter)
    _finish_staging(con, staged)
    return staged


def _number_lines(source: Path, target: Path, skip: int, delimiter: str, name: str) -> tuple[int, list[RaggedRow]]:
    """Copy the file's records to ``target`` with the line each starts on as an extra first cell.

    DuckDB's CSV reader numbers neither the rows it keeps nor (consistently) the rows it
    rejects by the file's lines once a cell holds a line break or blank lines occur, so the
    line of every record is taken here, where a record is a line plus the following lines
    while a quote is open (quotes are doubled to escape them, so an odd count means open).
    Blank lines are left out and counted. A carriage return outside quotes would stop
    DuckDB's reader for the whole file; such a record is left out and reported with its line.
    The cells themselves are copied byte for byte; only line ends become ``\\n``.

    Returns
    -------
    (int, list of RaggedRow)
        The blank lines left out, and the records left out for a stray carriage return.
    """
    prefix_delimiter = delimiter.encode("utf-8")
    delimiter_byte = prefix_delimiter[0] if len(prefix_delimiter) == 1 else None
    blank = 0
    broken: list[RaggedRow] = []
    record: list[bytes] = []
    record_size = 0
    open_quotes = False
    start = 0
    with source.open("rb") as handle, target.open("wb") as out:
        for number, line in enumerate(handle, start=1):
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
            if number <= skip:
                continue
            if not record:
                if not line.strip():
                    blank += 1
                    continue
                start = number
            record.append(line)
            record_size += len(line)
            if b'"' in line:
                open_quotes = _quote_open_after(line, open_quotes, delimiter_byte)
            if open_quotes:
                if record_size > MAX_RECORD_BYTES:
                    raise UserFacingError(
                        f"{name}: line {start} opens a quoted cell that is not closed within "
                        f"{MAX_RECORD_BYTES // 1024 // 1024} MB; a quote (\") is probably missing or extra there"
                    )
                continue
            text = b"".join(record)
            record, record_size = [], 0
            text = text[:-2] if text.endswith(b"\r\n") else text[:-1] if text.endswith(b"\n") else text
            if b"\r" in text and _carriage_return_outside_quotes(text, delimiter_byte):
                if start == skip + 1:
                    raise UserFacingError(
                        f"{name}: the header (line {start}) contains a carriage return outside quotes; "
                        "the file probably uses old Mac line endings. Save it with Windows or Unix line endings"
                    )
                broken.append(RaggedRow(file_row=start, reason="row contains a line break (carriage return) "
                                        "outside quotes, so its cells cannot be told apart",
                                        text=text.decode("utf-8", "replace").replace("\r", "\\r")[:200]))
                continue
            out.write(str(start).encode("ascii") + prefix_delimiter + text + b"\n")
        if record:
            raise UserFacingError(
                f"{name}: line {start} opens a quoted cell that is never closed; a quote (\") is probably "
                "missing or extra there"
            )
    return blank, broken


def _quote_states(text: bytes, inside: bool, delimiter: int | None):
    """Each byte of ``text`` with whether it lies inside a quoted cell, as DuckDB's reader sees it.

    A quote opens a quoted cell only at the start of a cell; inside one, a doubled quote
    is a quote and a single one closes it; elsewhere a quote is an ordinary character.
    """
    at_cell_start = not inside
    position = 0
    while position < len(text):
        byte = text[position]
        if inside:
            if byte == 0x22:
                if text[position + 1: position + 2] == b'"':
                    yield position, True
                    position += 1
                else:
                    inside = False
            yield position, inside
        else:
            if byte == 0x22 and at_cell_start:
                inside = True
            at_cell_start = byte == delimiter or byte in (0x0A, 0x0D)
            yield position, inside
        position += 1


def _quote_open_after(line: bytes, inside: bool, delimiter: int | None) -> bool:
    """Whether a quoted cell is still open at the end of ``line``."""
    state = inside
    for _position, state_after in _quote_states(line, inside, delimiter):
        state = state_after
    return state


def _carriage_return_outside_quotes(text: bytes, delimiter: int | None) -> bool:
    return any(text[position] == 0x0D and not inside and text[position + 1: position + 2] != b"\n"
               for position, inside in _quote_states(text, False, delimiter))


def _read_csv_into_staging(con, numbered_path: Path, name: str, columns: list[str], delimiter: str,
                           line_end: str | None = None) -> None:
    """Read a file written by ``_number_lines`` (or the Excel step), whose first cell is the row's line.

    With ``line_end`` it reads a file as it is: one record per line, each ending in
    ``line_end`` (see ``_scan_text_file``).
    """
    line_cell = "'line': 'VARCHAR', " if line_end is None else ""
    column_types = "{" + line_cell + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(columns))) + "}"
    # Every dialect option is given, so nothing depends on DuckDB's sniffer guessing
    # from a sample; rows it cannot split go to the rejects table with their text.
    statement = (
        "create temp table " + _RAW_TABLE + " as select * from read_csv($path, header = true, "
        "delim = $delim, quote = '\"', escape = '\"', new_line = $line_end, auto_detect = false, "
        "columns = " + column_types + ", "
        "ignore_errors = true, store_rejects = true, rejects_table = '" + _REJECTS_TABLE + "', "
        "rejects_scan = '" + _REJECT_SCANS_TABLE + "', max_line_size = " + str(MAX_RECORD_BYTES) + ")"
    )
    try:
        # DuckDB takes the line end spelled with backslashes: the characters \ and n, not a line feed.
        spelled = (line_end or "\n").replace("\r", "\\r").replace("\n", "\\n")
        con.execute(statement, {"path": str(numbered_path), "delim": delimiter, "line_end": spelled})
    except duckdb.Error as exc:
        if "invalid state" in str(exc):
            raise UserFacingError(
                f"{name}: the file's line breaks or quotes are inconsistent (for example a carriage return "
                "inside a cell that is not quoted), so its rows cannot be told apart; export it again with "
                "text cells quoted"
            ) from None
        raise UserFacingError(f"{name}: the file cannot be read as CSV ({_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200]


def _finish_staging(con, staged: StagedFile, first_data_line: int = 1) -> None:
    """Number the rows as in the file, drop blank rows, collect ragged rows, refuse files with no data.

    CSV and Excel rows carry their line (their sheet row) in the cell ``line``; other rows
    are numbered by their position, the first being ``first_data_line`` (Parquet: 1).
    """
    name = staged.source_name
    # A short row is reported once per missing column; one entry per row is enough.
    ragged_rows = con.execute(
        "select line, any_value(error_type order by column_idx), any_value(csv_line), "
        "any_value(error_message order by column_idx) from " + _REJECTS_TABLE + " group by line order by line"
    ).fetchall() if _table_exists(con, _REJECTS_TABLE) else []
    indexes = range(len(staged.columns))
    cells = ", ".join(f"c{i}" for i in indexes)
    # A row is blank when every cell trims to nothing. A cell whose first character is ASCII other than a
    # space is not blank: that cheap test comes first and settles nearly every row, so the trims (which copy
    # the cell) run only on the rest. The view is read by each check and by the typing.
    not_blank = " or ".join([*(f"(ascii(c{i}) between 1 and 127 and ascii(c{i}) <> 32)" for i in indexes),
                             *(f"nullif(trim(c{i}), '') is not null" for i in indexes)])
    has_lines = "line" in [row[0] for row in con.execute("describe " + _RAW_TABLE).fetchall()]
    file_row = "cast(line as bigint)" if has_lines else f"rowid + {int(first_data_line)}"
    raw_rows = con.execute("select count(*) from " + _RAW_TABLE).fetchone()[0]
    # A view, not a copy: at ten million rows a copy of the text cells costs seconds and gigabytes,
    # and the typed table is built from it once.
    con.execute(
        "create temp view " + STAGING_TABLE + " as select " + file_row.replace("cast(", "try_cast(")
        + " as file_row, " + cells + " from " + _RAW_TABLE + " where " + not_blank
    )
    if has_lines and con.execute("select count(*) from " + STAGING_TABLE + " where file_row is null").fetchone()[0]:
        # The reader split the rows differently from the line numbering: its quotes disagree with ours.
        raise UserFacingError(
            f"{name}: the quotes (\") in the file do not pair up consistently, so its rows cannot be told apart "
            "with certainty; check the quotes in cells, or export the file again with text cells quoted"
        )
    staged.rows = con.execute("select count(*) from " + STAGING_TABLE).fetchone()[0]
    staged.blank_rows += raw_rows - staged.rows
    expected = len(staged.columns)
    for line, error_type, text, message in ragged_rows:
        # The first cell of the rejected text is the line written by _number_lines; the
        # reader's own line count skips blank lines and the lines inside quoted cells.
        cells_text = (text or "").lstrip("\r\n")
        number, separator, rest = cells_text.partition(staged.delimiter or ",")
        found = re.search(r"Found:\s*(\d+)", message or "")
        if error_type in ("MISSING COLUMNS", "TOO MANY COLUMNS") and found:
            reason = f"row has {int(found.group(1)) - 1} fields, the header has {expected}"
        else:
            reason = f"row cannot be read ({(error_type or 'unreadable').lower()})"
        row_number = int(number) if separator and number.isdigit() else int(line)
        kept_text = rest if separator else text or ""
        staged.ragged.append(RaggedRow(file_row=row_number, reason=reason, text=kept_text[:200]))
    staged.ragged.sort(key=lambda ragged: ragged.file_row)
    if staged.blank_rows:
        staged.notices.append(f"{staged.blank_rows} blank row(s) ignored")
    if staged.rows == 0 and not staged.ragged:
        raise UserFacingError(f"{name}: the file has a header row but no data rows; export it again with its data")
    if staged.ragged and len(staged.ragged) > staged.rows:
        example = staged.ragged[0]
        raise UserFacingError(
            f"{name}: {len(staged.ragged)} of {len(staged.ragged) + staged.rows} rows do not match the header "
            f"(row {example.file_row}: {example.reason}). The delimiter ({describe_delimiter(staged.delimiter)}) "
            "or the header row is probably wrong; choose them by hand"
        )


def _table_exists(con, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where table_name = $table", {"table": table}
    ).fetchone()[0])


def read_columns(path: str | Path, options: ReadOptions | None = None, source_name: str | None = None) -> list[str]:
    """The column names of a file, reading only its start (for mapping before a full read)."""
    options = options or ReadOptions()
    path = Path(path)
    name = source_name or path.name
    if not path.is_file():
        raise UserFacingError(f"{name}: there is no such file")
    if path.stat().st_size == 0:
        raise UserFacingError(f"{name}: the file is empty (0 bytes); export it again with its data")
    with path.open("rb") as handle:
        sample = handle.read(CHUNK_BYTES)
    file_format = _sniff_format(path, sample[:8192], name)
    if file_format == "parquet":
        import pyarrow.parquet as pq

        try:
            return _clean_column_names(list(pq.read_schema(path).names))
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise UserFacingError(f"{name}: the Parquet file cannot be read ({_first_line(exc)})") from None
    if file_format == "excel":
        _check_workbook_archive(path, name)
        workbook = _open_workbook(path, name)
        try:
            sheet = _choose_sheet(workbook, options, name)
            header_row = options.header_row or 1
            for row in workbook[sheet].iter_rows(min_row=header_row, max_row=header_row, values_only=True):
                cells = [_excel_cell_text(value) for value in row]
                while cells and not cells[-1].strip():
                    cells.pop()
                return _clean_column_names(cells)
            return []
        finally:
            workbook.close()
    utf8_valid = True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample)
    except UnicodeDecodeError:
        utf8_valid = False
    encoding = options.encoding or detect_encoding(path, sample[:8192], utf8_valid)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(sample)
    columns, _ = _header_from_text(text, (options.header_row or 1) - 1, options.delimiter, name)
    return columns


# ---------------------------------------------------------------------------
# Excel


def list_sheets(path: str | Path, source_name: str | None = None) -> list[str]:
    """The sheet names of an .xlsx workbook, after the safety checks."""
    path = Path(path)
    name = source_name or path.name
    _check_workbook_archive(path, name)
    workbook = _open_workbook(path, name)
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _check_workbook_archive(path: Path, name: str) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UserFacingError(f"{name}: the file looks like a workbook but is damaged; export it again") from None
    with archive:
        members = archive.infolist()
        names = {member.filename for member in members}
        if "xl/workbook.xml" not in names:
            raise UserFacingError(
                f"{name}: this is a zip archive, not an Excel workbook; unzip it and load the file inside"
            )
        if any(member.lower().endswith("vbaproject.bin") for member in names):
            raise UserFacingError(
                f"{name}: the workbook contains macros, which are not loaded because they can run code; "
                "save the sheet as .xlsx without macros, or as CSV"
            )
        expanded = sum(member.file_size for member in members)
        packed = sum(member.compress_size for member in members) or 1
        if expanded > MAX_UNCOMPRESSED_BYTES or expanded / packed > MAX_COMPRESSION_RATIO:
            raise UserFacingError(
                f"{name}: the workbook would expand to {expanded / 1024 / 1024:.0f} MB when opened "
                f"({expanded / packed:.0f} times its size), which is refused as a possible zip bomb; "
                "save the sheet as CSV and load that"
            )


def _open_workbook(path: Path, name: str):
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for damaged files
        raise UserFacingError(f"{name}: the workbook cannot be opened ({_first_line(exc)})") from None


def _choose_sheet(workbook, options: ReadOptions, name: str) -> str:
    """The sheet to read: the chosen one, or the only one; several and none chosen asks which."""
    sheets = list(workbook.sheetnames)
    if options.sheet is None and len(sheets) > 1:
        raise SheetChoiceNeeded(
            f"{name}: the workbook has {len(sheets)} sheets ({', '.join(sheets)}); choose which one to load", sheets
        )
    sheet = options.sheet or sheets[0]
    if sheet not in sheets:
        raise SheetChoiceNeeded(f"{name}: the workbook has no sheet '{sheet}'; its sheets are {', '.join(sheets)}",
                                sheets)
    return sheet


def _excel_cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # Excel stores every number as a float: ids such as 12583 come back as 12583.0.
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _stage_excel(con, path: Path, name: str, options: ReadOptions, temp_dir: Path, progress) -> StagedFile:
    _check_workbook_archive(path, name)
    content_hash = file_hash(path)
    workbook = _open_workbook(path, name)
    try:
        sheets = list(workbook.sheetnames)
        sheet = _choose_sheet(workbook, options, name)
        if progress:
            progress(0.05, f"reading sheet {sheet}")
        header_row = options.header_row or 1
        csv_path = temp_dir / "sheet.csv"
        width = 0
        with csv_path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            for row_number, row in enumerate(workbook[sheet].iter_rows(values_only=True), start=1):
                if row_number < header_row:
                    continue
                cells = [_excel_cell_text(value) for value in row]
                if row_number == header_row:
                    while cells and not cells[-1].strip():
                        cells.pop()
                    if not cells:
                        raise UserFacingError(
                            f"{name}: sheet '{sheet}' row {header_row}, where the column names should be, is blank"
                        )
                    width = len(cells)
                    writer.writerow(["line", *_clean_column_names(cells)])
                    continue
                # Trailing empty cells are formatting, not data; cells beyond the
                # header that hold something make the row ragged, as in a CSV.
                while len(cells) > width and not cells[-1].strip():
                    cells.pop()
                cells += [""] * (width - len(cells))
                writer.writerow([row_number, *cells])
        if width == 0:
            raise UserFacingError(f"{name}: sheet '{sheet}' is empty; choose the sheet that holds the data")
    finally:
        workbook.close()
    columns = _read_header(csv_path, 0, ",", name)[0][1:]
    _read_csv_into_staging(con, csv_path, name, columns, ",")
    staged = StagedFile(source_name=name, path=path, format="excel", encoding=None, delimiter=None, sheet=sheet,
                        sheet_names=sheets, columns=columns, content_hash=content_hash, rows=0)
    _finish_staging(con, staged)
    return staged


# ---------------------------------------------------------------------------
# Parquet


def _stage_parquet(con, path: Path, name: str) -> StagedFile:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise UserFacingError(f"{name}: the Parquet file cannot be read ({_first_line(exc)})") from None
    columns = _clean_column_names(list(schema.names))
    if not columns:
        raise UserFacingError(f"{name}: the Parquet file has no columns")
    definitions = ", ".join(f"c{i} varchar" for i in range(len(columns)))
    con.execute("create temp table " + _RAW_TABLE + " (" + definitions + ")")
    try:
        # COLUMNS(*) (DuckDB-only) casts every column to text and inserts by position,
        # so no column name from the file is ever written into SQL.
        con.execute("insert into " + _RAW_TABLE + " select columns(*)::varchar from read_parquet($path)",
                    {"path": str(path)})
    except duckdb.Error as exc:
        raise UserFacingError(f"{name}: the Parquet file cannot be read ({_first_line(exc)})") from None
    staged = StagedFile(source_name=name, path=path, format="parquet", encoding=None, delimiter=None, sheet=None,
                        sheet_names=[], columns=columns, content_hash=file_hash(path), rows=0)
    _finish_staging(con, staged)
    return staged
