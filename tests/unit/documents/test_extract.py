"""Extraction: real Markdown, HTML, text and PDF files in; validated text and sections out."""

from __future__ import annotations

import io
import pickle
import time

import pytest
from pypdf import PdfReader, PdfWriter

from ragops.documents.errors import IngestError
from ragops.documents.extract import ExtractedDocument, extract, safe_display_name
from ragops.documents.hashing import content_hash

LIMIT = 1024 * 1024


def run(
    name: str, data: bytes, declared: str | None = None, *, pages: int = 50, **kwargs: float
) -> ExtractedDocument:
    doc = extract(
        name, data, declared_type=declared, max_bytes=LIMIT, max_pdf_pages=pages, **kwargs
    )
    assert_offsets(doc)
    return doc


def assert_offsets(doc: ExtractedDocument) -> None:
    previous_end = 0
    for section in doc.sections:
        assert doc.text[section.start : section.end] == section.text
        assert section.text.strip()
        assert section.start >= previous_end
        previous_end = section.end


def refused(name: str, data: bytes, declared: str | None = None, **kwargs: int) -> IngestError:
    options = {"max_bytes": LIMIT, "max_pdf_pages": 50, **kwargs}
    with pytest.raises(IngestError) as caught:
        extract(name, data, declared_type=declared, **options)
    return caught.value


def pdf_bytes(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal valid PDF (Helvetica text, one line per string) with a correct xref table."""

    def literal(text: str) -> bytes:
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("latin-1") + b")"

    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % p for p in page_ids), len(pages)),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for page_id, lines in zip(page_ids, pages, strict=True):
        shown = b" ".join(literal(line) + b" Tj T*" for line in lines)
        stream = b"BT /F1 12 Tf 14 TL 72 720 Td " + shown + b" ET" if lines else b""
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    info = b""
    if title is not None:
        objects[len(objects) + 1] = b"<< /Title " + literal(title) + b" >>"
        info = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref = len(out)
    size = len(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, size))
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (size, info, xref)
    return bytes(out)


def encrypted(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password, owner_password="owner-secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


MARKDOWN = b"""---
layout: page
---
# Operations *Guide*

Read **this** first, then the [runbook](https://example.invalid/runbook).

## Deploying

Ship with `make deploy`.

```bash
# this is a shell comment, not a heading
make deploy ENV=prod
```

### Rollback

Roll back with the previous image.

## Monitoring

Alerts page the on-call engineer.

Escalation
----------

Call the lead after 30 minutes.
"""


def test_markdown_headings_code_and_inline_markup() -> None:
    doc = run("guide.md", MARKDOWN)
    assert doc.media_type == "text/markdown"
    assert doc.title == "Operations Guide"
    paths = [section.heading_path for section in doc.sections]
    assert paths == [
        ["Operations Guide"],
        ["Operations Guide", "Deploying"],
        ["Operations Guide", "Deploying", "Rollback"],
        ["Operations Guide", "Monitoring"],
        ["Operations Guide", "Escalation"],  # a setext "---" heading is level 2
    ]
    deploying = doc.sections[1].text
    assert "# this is a shell comment, not a heading" in deploying
    assert "make deploy ENV=prod" in deploying
    assert "Ship with make deploy." in deploying
    intro = doc.sections[0].text
    assert intro == "Read this first, then the runbook."
    assert "layout" not in doc.text and "https://" not in doc.text
    assert "\n\n\n" not in doc.text


def test_markdown_hash_without_space_and_unclosed_fence() -> None:
    doc = run("notes.md", b"#hashtag is text\n\n####### seven\n\n~~~\n# code to the end\n")
    assert doc.title == "notes"
    assert [s.heading_path for s in doc.sections] == [[]]
    assert "#hashtag is text" in doc.text and "# code to the end" in doc.text


def test_markdown_thematic_break_and_list_are_not_setext_headings() -> None:
    doc = run("list.md", b"- item one\n---\n\nPlain paragraph.\n\n***\n\nEnd.\n")
    assert all(section.heading_path == [] for section in doc.sections)
    assert "- item one" in doc.text and "---" not in doc.text and "***" not in doc.text


HTML = b"""<!DOCTYPE html>
<html><head><title>Runbook &amp; Checklist</title>
<style>body { color: red }</style><script>var secret = "do not index";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/docs">Docs</a></nav>
<h1>Incident response</h1>
<p>When paged, <b>acknowledge</b> within 5&nbsp;minutes &mdash; always &lt;quickly&gt;.</p>
<!-- an HTML comment -->
<h2>Triage</h2>
<ul><li>Check dashboards</li><li>Read logs</li></ul>
<h3>Database</h3>
<p>Fail over with<br>the script below.</p>
<pre>  pg_ctl promote
    --wait</pre>
<table><tr><th>Step</th><th>Owner</th></tr><tr><td>Promote</td><td>DBA</td></tr></table>
<script>console.log("also dropped")</script>
</body></html>
"""


def test_html_title_headings_entities_and_dropped_content() -> None:
    doc = run("runbook.html", HTML, "text/html; charset=utf-8")
    assert doc.media_type == "text/html"
    assert doc.title == "Runbook & Checklist"
    assert [s.heading_path for s in doc.sections] == [
        ["Incident response"],
        ["Incident response", "Triage"],
        ["Incident response", "Triage", "Database"],
    ]
    assert (
        doc.sections[0].text == "When paged, acknowledge within 5 minutes \u2014 always <quickly>."
    )
    assert doc.sections[1].text == "Check dashboards\nRead logs"
    database = doc.sections[2].text
    assert "Fail over with\nthe script below." in database
    assert "  pg_ctl promote\n    --wait" in database
    assert "Step Owner" in database and "Promote DBA" in database
    for dropped in ("secret", "color", "console", "Home", "HTML comment", "Docs"):
        assert dropped not in doc.text


def test_html_title_falls_back_to_first_h1_and_survives_deep_nesting() -> None:
    doc = run("page.htm", b"<h1>Only heading</h1><p>Body</p>")
    assert doc.title == "Only heading"
    deep = b"<div>" * 5000 + b"deep text" + b"</div>" * 5000
    assert run("deep.html", deep).text == "deep text"


@pytest.mark.parametrize("fragment", ["<a b='", "<!--", "<![CDATA[", "<a", "</", "<!-- "])
def test_html_unclosed_markup_is_text_and_parses_in_linear_time(fragment: str) -> None:
    started = time.monotonic()
    doc = run("hostile.html", fragment.encode() * 20_000)
    assert time.monotonic() - started < 20  # the quadratic html.parser path took minutes
    assert doc.text.startswith(fragment.strip())


def test_html_stray_angle_brackets_stay_text() -> None:
    doc = run("cmp.html", b"<p>a < b and c > d</p><p>x<y</p>")
    assert doc.text == "a < b and c > d\n\nx<y"


def test_html_of_only_scripts_has_no_text() -> None:
    assert refused("s.html", b"<script>alert(1)</script><style>p{}</style>").code == "no_text"


def test_plain_text_keeps_paragraphs_and_conservative_headings() -> None:
    raw = "Intro line one\r\nline   two\r\n\r\n\r\n\r\nUsage\r\n=====\r\n\r\nRun it.\tNow.\r\n"
    doc = run("../../readme.txt", raw.encode())
    assert doc.media_type == "text/plain"
    assert doc.title == "readme"
    assert doc.text == "Intro line one\nline two\n\nUsage\n\nRun it. Now."
    assert [s.heading_path for s in doc.sections] == [[], ["Usage"]]


def test_utf8_bom_is_accepted_and_unicode_kept() -> None:
    doc = run("bom.txt", "\ufeffCaf\u00e9 \u2014 na\u00efve \U0001f680".encode())
    assert doc.text == "Caf\u00e9 \u2014 na\u00efve \U0001f680"


def test_pdf_text_pages_and_metadata_title() -> None:
    pdf = pdf_bytes(
        [["Quarterly report", "Revenue grew (a lot) in Q3."], [], ["Costs fell in Q4."]],
        title="Finance Review",
    )
    doc = run("report.pdf", pdf, "application/pdf")
    assert doc.media_type == "application/pdf"
    assert doc.title == "Finance Review"
    assert [s.heading_path for s in doc.sections] == [["page 1"], ["page 3"]]
    assert "Revenue grew (a lot) in Q3." in doc.sections[0].text
    assert "Costs fell in Q4." in doc.sections[1].text


def test_pdf_title_falls_back_to_first_line() -> None:
    doc = run("scan.pdf", pdf_bytes([["Annual Summary", "Everything is fine."]]))
    assert doc.title == "Annual Summary"


def test_pdf_encrypted_with_empty_user_password_still_reads() -> None:
    doc = run("open.pdf", encrypted(pdf_bytes([["Readable words"]]), user_password=""))
    assert "Readable words" in doc.text


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("broken.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 8, "corrupt_pdf"),
        ("locked.pdf", encrypted(pdf_bytes([["secret"]]), user_password="pw"), "corrupt_pdf"),
        ("blank.pdf", pdf_bytes([[], []]), "no_text"),
        ("fake.pdf", b"Just text with a pdf name", "unsupported_media_type"),
    ],
)
def test_bad_pdfs_are_refused(name: str, data: bytes, code: str) -> None:
    err = refused(name, data)
    assert err.code == code
    assert err.filename == name


def test_pdf_page_limit_and_timeout() -> None:
    three = pdf_bytes([["one"], ["two"], ["three"]])
    err = refused("long.pdf", three, max_pdf_pages=2)
    assert (err.code, err.status) == ("too_many_pages", 422)
    assert "3 pages" in err.message
    many = pdf_bytes([[f"page {i} text"] for i in range(300)])
    with pytest.raises(IngestError) as caught:
        extract(
            "slow.pdf",
            many,
            declared_type=None,
            max_bytes=LIMIT,
            max_pdf_pages=500,
            pdf_timeout_seconds=1e-4,
        )
    assert caught.value.code == "parse_timeout"


@pytest.mark.parametrize(
    ("name", "data", "declared", "code", "status"),
    [
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "unsupported_media_type", 415),
        ("doc.md", b"PK\x03\x04\x14\x00\x06\x00", None, "unsupported_media_type", 415),
        ("report.docx", b"PK\x03\x04\x14\x00\x06\x00", None, "unsupported_media_type", 415),
        ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00", None, "unsupported_media_type", 415),
        ("nul.txt", b"text\x00with nul", None, "unsupported_media_type", 415),
        ("data", b"plain words", "image/png", "unsupported_media_type", 415),
        ("notes.txt", b"plain words", "application/pdf", "unsupported_media_type", 415),
        ("latin.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1"), None, "not_utf8", 422),
        ("wide.txt", "hello".encode("utf-16"), None, "not_utf8", 422),
        ("empty.md", b"", None, "empty_document", 422),
        ("blank.txt", b" \n\t\r\n  ", None, "empty_document", 422),
        ("bom-only.txt", b"\xef\xbb\xbf\xc2\xa0", None, "empty_document", 422),
    ],
)
def test_refused_files(
    name: str, data: bytes, declared: str | None, code: str, status: int
) -> None:
    err = refused(name, data, declared)
    assert (err.code, err.status) == (code, status)
    assert err.message.startswith(f"{name}: ")
    assert str(err) == err.message


def test_size_limit() -> None:
    err = refused("big.txt", b"a" * 101, max_bytes=100)
    assert (err.code, err.status) == ("too_large", 413)
    assert run("fits.txt", b"a" * 100).text == "a" * 100


def test_type_comes_from_extension_or_declared_type_or_content() -> None:
    assert run("README", b"# Title\n\nbody", "text/markdown").media_type == "text/markdown"
    assert run("README", b"# Title\n\nbody").media_type == "text/plain"
    assert run("upload", pdf_bytes([["sniffed"]]), "application/octet-stream").title == "sniffed"
    assert run("page.HTML", b"<p>upper case extension</p>").media_type == "text/html"
    assert run("notes.md", b"text", "text/plain").media_type == "text/markdown"


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("a\x00b.txt", "ab.txt"),
        ("C:\\evil\\x.md", "x.md"),
        ("D:notes.md", "notes.md"),
        ("..", "document"),
        ("", "document"),
        ("  spaced \t name .txt ", "spaced name .txt"),
        ("report\u202egpj.exe", "reportgpj.exe"),
        ("line\nbreak\r.md", "linebreak.md"),
        ("x" * 500 + ".pdf", "x" * 196 + ".pdf"),
    ],
)
def test_safe_display_name(raw: str, safe: str) -> None:
    assert safe_display_name(raw) == safe


def test_hostile_names_are_never_paths() -> None:
    doc = run("../../etc/passwd", b"root:x:0:0")
    assert doc.title == "passwd" and doc.media_type == "text/plain"
    assert run("C:\\evil\\x.md", b"# Evil\n\ntext").title == "Evil"
    err = refused("../../secret/../x.exe", b"MZ")
    assert err.filename == "x.exe" and "/" not in err.message
    assert refused("a\x00b.png", b"\x89PNG").filename == "ab.png"


def test_ingest_error_shape() -> None:
    err = IngestError("a.txt", "not_utf8", "is not UTF-8")
    assert str(err) == "a.txt: is not UTF-8" == err.message
    assert (err.filename, err.code, err.status) == ("a.txt", "not_utf8", 422)
    assert IngestError.status_for("unsupported_media_type") == 415
    assert IngestError.status_for("too_large") == 413
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.code, copy.message, copy.status) == (err.code, err.message, err.status)


def test_content_hash() -> None:
    assert content_hash(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert content_hash(b"a") != content_hash(b"b")
    assert len(content_hash(b"x" * 10_000)) == 64
