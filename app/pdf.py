"""Printable pages as PDF, through WeasyPrint in process (no browser to start): the
post-mortem and the monthly insights report. Stylesheets are read from disk, never
fetched."""
from __future__ import annotations

from pathlib import Path

from flask import Response, abort

PAPERS = {"a4": "A4", "letter": "letter"}


def choose_paper(asked: str, time_zone: str) -> str:
    """The paper asked for, else US Letter for people in the Americas' US and Canadian
    zones, else A4."""
    if asked in PAPERS:
        return asked
    return "letter" if (time_zone or "").startswith(("America/", "US/", "Canada/")) else "a4"


class PdfUnavailable(RuntimeError):
    """WeasyPrint or the OS libraries it needs (pango) are missing."""


def render(html: str, stylesheet: Path, *, paper: str = "a4") -> bytes:
    """`html` as PDF on A4 or US Letter, styled by `stylesheet`."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: pango is not installed
        raise PdfUnavailable(str(error)) from None
    size = PAPERS.get(paper, "A4")
    sheets = [weasyprint.CSS(filename=str(stylesheet)), weasyprint.CSS(string=f"@page {{ size: {size}; }}")]
    return weasyprint.HTML(string=html, base_url=str(stylesheet.parent)).write_pdf(stylesheets=sheets)


def download(html: str, stylesheet: Path, *, paper: str, filename: str) -> Response:
    """The PDF as an attachment, or 503 saying what is missing and to print instead."""
    try:
        body = render(html, stylesheet, paper=paper)
    except PdfUnavailable:
        abort(503, description="PDF needs the pango library on the server (scripts/system-packages.sh pdf); "
                               "use Print instead.")
    response = Response(body, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
