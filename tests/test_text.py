"""Markdown people write is shown sanitised."""
from __future__ import annotations

from app.text import markdown


def test_markdown_renders_the_usual_things():
    html = markdown("**bold** and `code`\n\n- one\n- two\n\n[runbook](https://runbooks.example.com/x)")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html and "<li>one</li>" in html
    assert 'href="https://runbooks.example.com/x"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_markdown_never_lets_script_through():
    evil = ('<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1)) '
            '<a href="javascript:alert(1)">y</a> <iframe src="https://evil.example"></iframe>')
    html = str(markdown(evil))
    assert "<script" not in html and "<img" not in html and "<iframe" not in html
    assert "<a " not in html  # neither the Markdown link nor the raw one became a link
    assert "&lt;script&gt;" in html  # what was typed is shown as text


def test_empty_markdown_is_empty():
    assert markdown(None) == "" and markdown("") == ""
