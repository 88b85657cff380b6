"""Real CV files made in the tests: PDFs (fpdf2, pypdf), DOCX (python-docx), broken ones."""

from __future__ import annotations

import io
import zipfile

from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter


def pdf(lines: list[str], pages: int = 1) -> bytes:
    doc = FPDF()
    doc.set_font("Helvetica", size=12)
    for _ in range(pages):
        doc.add_page()
        for line in lines:
            doc.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def encrypted_pdf(lines: list[str]) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(lines))))
    writer.encrypt(user_password="secret", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_only_pdf() -> bytes:
    """A 'scanned' page: one picture, no text layer."""
    picture = Image.new("RGB", (400, 200), "white")
    for x in range(50, 350):
        picture.putpixel((x, 100), (0, 0, 0))
    doc = FPDF()
    doc.add_page()
    doc.image(picture, x=10, y=10, w=150)
    return bytes(doc.output())


def corrupt_pdf(lines: list[str]) -> bytes:
    good = pdf(lines)
    return good[:40] + bytes(range(256)) * 8  # the header survives, the rest is noise


def docx(paragraphs: list[str], table_cells: list[str] = ()) -> bytes:  # type: ignore[assignment]
    import docx as python_docx

    document = python_docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table_cells:
        table = document.add_table(rows=1, cols=len(table_cells))
        for cell, text in zip(table.rows[0].cells, table_cells, strict=True):
            cell.text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb_docx(unpacked_mib: int = 64) -> bytes:
    """A DOCX whose document.xml unpacks to `unpacked_mib` MiB from a few dozen KiB."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            chunk = b" " * (1024 * 1024)
            for _ in range(unpacked_mib):
                member.write(chunk)
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "not a word document")
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (10, 10), "red").save(out, format="PNG")
    return out.getvalue()
