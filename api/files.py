"""CV files in, CV text out: PDF (pypdf), DOCX (python-docx) or plain text.

The file is read from the request, its text extracted and only the text kept; a file that
cannot give a CV's text is refused with a 4xx that says why, before anything is stored.
What is checked, in order: size, declared type (MIME type or extension) against the bytes,
then per format: PDF encryption and page count; DOCX archive size and compression ratio
before anything is unpacked (zip bombs); text encoding. A parser fed untrusted bytes may
fail in many ways; any failure of one is "this file cannot be read", never a 500.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

from werkzeug.datastructures import FileStorage

from api.errors import ApiError
from shared.config import Settings

PDF, DOCX, TEXT = "pdf", "docx", "text"
MIME_TYPES = {"application/pdf": PDF, "text/plain": TEXT,
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DOCX}
EXTENSIONS = {".pdf": PDF, ".docx": DOCX, ".txt": TEXT, ".text": TEXT}
#: MIME types that say nothing about the content: the extension decides.
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
DOCX_MAX_MEMBERS = 500
DOCX_MAX_UNPACKED = 50 * 1024 * 1024
DOCX_MAX_RATIO = 100

# pypdf warns about malformed structure through logging; its messages never need CV text
# in the logs.
logging.getLogger("pypdf").setLevel(logging.ERROR)


@dataclass(frozen=True)
class FileLimits:
    max_bytes: int
    max_pages: int
    max_chars: int


def unreadable(code: str, message: str) -> ApiError:
    return ApiError(422, code, message)


def declared_kind(filename: str, content_type: str) -> str:
    mime = content_type.split(";")[0].strip().lower()
    if mime not in GENERIC_TYPES:
        if mime not in MIME_TYPES:
            raise ApiError(415, "unsupported_file_type", f"files of type {mime!r} are not "
                           "accepted; send a PDF, DOCX or plain-text (UTF-8) file")
        return MIME_TYPES[mime]
    suffix = PurePath(filename).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ApiError(415, "unsupported_file_type", f"cannot tell the type of {filename!r}; "
                       "send a .pdf, .docx or .txt file, or set the part's Content-Type")
    return EXTENSIONS[suffix]


def content_kind(data: bytes) -> str:
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"PK\x03\x04"):
        return DOCX
    return TEXT


def pdf_text(data: bytes, max_pages: int) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        pages = 0 if encrypted else len(reader.pages)
    except Exception:
        raise unreadable("unreadable_file", "the PDF is damaged and cannot be read") from None
    if encrypted:
        raise unreadable("encrypted_file", "the PDF is encrypted; upload it without a password")
    if pages > max_pages:
        raise ApiError(413, "too_many_pages", f"the PDF has {pages} pages; at most {max_pages}")
    try:
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception:
        raise unreadable("unreadable_file", "the PDF's text cannot be read (damaged)") from None


def _check_archive(archive: zipfile.ZipFile) -> None:
    members = archive.infolist()
    unpacked = sum(m.file_size for m in members)
    if len(members) > DOCX_MAX_MEMBERS or unpacked > DOCX_MAX_UNPACKED or any(
            m.file_size > DOCX_MAX_RATIO * max(m.compress_size, 1) for m in members):
        raise unreadable("suspicious_archive", "the DOCX unpacks to far more than its size "
                         f"(over {DOCX_MAX_UNPACKED // 2**20} MiB or {DOCX_MAX_RATIO}:1): refused")
    if "word/document.xml" not in archive.namelist():
        raise ApiError(415, "file_type_mismatch", "the file is a ZIP archive but not a DOCX")


def docx_text(data: bytes) -> str:
    import docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_archive(archive)
    except zipfile.BadZipFile:
        raise unreadable("unreadable_file", "the DOCX is damaged and cannot be read") from None
    try:
        document = docx.Document(io.BytesIO(data))
        cells = (cell.text for table in document.tables for row in table.rows
                 for cell in row.cells)
        return "\n".join([*(p.text for p in document.paragraphs), *cells])
    except Exception:
        raise unreadable("unreadable_file", "the DOCX's text cannot be read (damaged)") from None


def plain_text(data: bytes) -> str:
    if b"\x00" in data:
        raise ApiError(415, "file_type_mismatch", "the file is declared as text but holds "
                       "binary data")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise unreadable("unreadable_file", f"the text file is not UTF-8 (bad byte at offset "
                         f"{exc.start})") from None


def upload_text(upload: FileStorage, settings: Settings) -> str:
    """The CV text of an uploaded file (read up to one byte past the size limit, so an
    oversized file is refused without being read whole), NUL characters removed."""
    limits = FileLimits(settings.max_file_bytes, settings.max_file_pages, settings.max_cv_chars)
    text = extract_text(upload.stream.read(limits.max_bytes + 1), upload.filename or "",
                        upload.content_type or "", limits)
    return text.replace("\x00", "")


def extract_text(data: bytes, filename: str, content_type: str, limits: FileLimits) -> str:
    """The CV text of an uploaded file, or an ApiError saying why there is none."""
    if len(data) > limits.max_bytes:
        raise ApiError(413, "file_too_large", f"the file is {len(data)} bytes; at most "
                       f"{limits.max_bytes}")
    if not data:
        raise ApiError(400, "invalid_request", "the file is empty")
    declared, actual = declared_kind(filename, content_type), content_kind(data)
    if declared != actual:
        raise ApiError(415, "file_type_mismatch", f"the file is declared as {declared} but its "
                       f"content is {actual}")
    text = {PDF: lambda: pdf_text(data, limits.max_pages), DOCX: lambda: docx_text(data),
            TEXT: lambda: plain_text(data)}[declared]()
    if not any(ch.isalpha() for ch in text):
        raise unreadable("no_text", "the file has no text to read" + (
            " (a scanned PDF without a text layer? send one with text, or a DOCX)"
            if declared == PDF else ""))
    if len(text) > limits.max_chars:
        raise ApiError(413, "text_too_long", f"the file holds {len(text)} characters of text; "
                       f"at most {limits.max_chars}")
    return text.strip()
