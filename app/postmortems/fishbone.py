"""The fishbone (Ishikawa) diagram as SVG, drawn on the server.

No script, no colour that carries meaning, no CSS (the page's Content-Security-Policy
forbids inline styles; SVG presentation attributes are not styles): black lines and
text on white, so it reads the same on screen, in print and in black and white.
The viewBox scales it to the page or the paper.
"""
from __future__ import annotations

import textwrap

from markupsafe import Markup, escape

WIDTH = 800        # at least; drawn at 100% of the text width (~180 mm on paper: FONT prints at about 8 pt)
COLUMN = 280       # room for one pair of bones (one above, one below the spine)
HEAD_WIDTH = 170
MARGIN = 14
LINE = 16          # text line height
FONT = 13
LABEL_HEIGHT = 26
CHAR_WIDTH = 7.2   # average glyph width at FONT, for wrapping
MAX_LINES = 3


def _wrap(text: str, width_px: float) -> list[str]:
    chars = max(12, int(width_px / CHAR_WIDTH))
    lines = textwrap.wrap(" ".join(text.split()), chars) or [""]
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][: chars - 1].rstrip() + "…"
    return lines


def _text(x: float, y: float, lines: list[str], *, anchor: str = "end", bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if i == 0 else LINE}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{weight}>{spans}</text>'


def svg(problem: str, categories: list[tuple[str, list[str]]], *, title: str = "Fishbone diagram") -> Markup:
    """`categories`: (name, cause texts) in order; alternately drawn above and below the spine."""
    columns = max(1, (len(categories) + 1) // 2)
    width = max(WIDTH, HEAD_WIDTH + 2 * MARGIN + 8 + columns * COLUMN)  # wider with custom categories
    spine_left, spine_right = MARGIN + 8, width - HEAD_WIDTH - MARGIN
    column_width = (spine_right - spine_left) / columns
    slant = min(70.0, column_width * 0.3)
    text_width = column_width - slant - 24

    wrapped = [(name, [_wrap(cause, text_width) for cause in causes]) for name, causes in categories]

    def block(causes):
        return sum(len(lines) * LINE + 8 for lines in causes)
    top = max([block(c) for i, (_, c) in enumerate(wrapped) if i % 2 == 0] + [60])
    bottom = max([block(c) for i, (_, c) in enumerate(wrapped) if i % 2 == 1] + [60])
    half_top, half_bottom = top + LABEL_HEIGHT + 24, bottom + LABEL_HEIGHT + 24
    head_lines = _wrap(problem or "The problem", HEAD_WIDTH - 24)
    head_height = max(60, len(head_lines) * LINE + 24)
    height = MARGIN * 2 + max(half_top + half_bottom, head_height)
    spine_y = MARGIN + max(half_top, head_height / 2)
    height = max(height, spine_y + max(half_bottom, head_height / 2) + MARGIN)

    parts = [f'<rect x="0" y="0" width="{width}" height="{height:.0f}" fill="white"/>',
             f'<line x1="{spine_left}" y1="{spine_y:.1f}" x2="{spine_right}" y2="{spine_y:.1f}" '
             f'stroke="black" stroke-width="3"/>',
             f'<polygon points="{spine_right - 12},{spine_y - 7:.1f} {spine_right},{spine_y:.1f} '
             f'{spine_right - 12},{spine_y + 7:.1f}" fill="black"/>']
    head_x = spine_right + 4
    parts.append(f'<rect x="{head_x}" y="{spine_y - head_height / 2:.1f}" width="{HEAD_WIDTH - 8}" '
                 f'height="{head_height}" fill="white" stroke="black" stroke-width="2" rx="4"/>')
    parts.append(_text(head_x + (HEAD_WIDTH - 8) / 2, spine_y - (len(head_lines) - 1) * LINE / 2 + 4, head_lines,
                       anchor="middle", bold=True))

    for index, (name, causes) in enumerate(wrapped):
        column = index // 2
        above = index % 2 == 0
        joint_x = spine_left + column_width * (column + 1) - 10
        length = (half_top if above else half_bottom) - LABEL_HEIGHT - 8
        sign = -1 if above else 1
        end_x, end_y = joint_x - slant, spine_y + sign * length
        parts.append(f'<line x1="{joint_x:.1f}" y1="{spine_y:.1f}" x2="{end_x:.1f}" y2="{end_y:.1f}" '
                     f'stroke="black" stroke-width="2"/>')
        label = _wrap(name, column_width - 20)[:1]
        label_w = min(column_width - 12, max(70, len(label[0]) * (CHAR_WIDTH + 1) + 16))
        label_y = end_y - LABEL_HEIGHT if above else end_y
        parts.append(f'<rect x="{end_x - label_w / 2:.1f}" y="{label_y:.1f}" width="{label_w:.1f}" '
                     f'height="{LABEL_HEIGHT}" fill="white" stroke="black" stroke-width="1.5"/>')
        parts.append(_text(end_x, label_y + 17, label, anchor="middle", bold=True))
        # Causes: short ribs off the bone, text to their left, from the spine outwards.
        y = spine_y + sign * 18
        for lines in causes:
            rib_y = y if above else y
            offset = abs(rib_y - spine_y) / max(length, 1)
            bone_x = joint_x - slant * offset
            parts.append(f'<line x1="{bone_x - 16:.1f}" y1="{rib_y:.1f}" x2="{bone_x:.1f}" y2="{rib_y:.1f}" '
                         f'stroke="black" stroke-width="1"/>')
            first_line_y = rib_y + 4 - (len(lines) - 1) * LINE if above else rib_y + 4
            parts.append(_text(bone_x - 20, first_line_y, lines))
            y += sign * (len(lines) * LINE + 8)
        if not causes:
            parts.append(_text(joint_x - slant / 2 - 8, spine_y + sign * (length / 2), ["(none yet)"]))

    body = "".join(parts)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fishbone" viewBox="0 0 {width} {height:.0f}" '
        f'width="100%" role="img" aria-label="{escape(title)}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'font-size="{FONT}" fill="black"><title>{escape(title)}</title>{body}</svg>')
