"""The organisation's colours as a stylesheet, with WCAG 2.1 AA contrast kept whatever
colour an admin picks: text on the brand colour is black or white (whichever
contrasts more, always at least 4.5:1), and links use the brand colour darkened
until it reaches 4.5:1 on white. Served as /status/brand.css, since the
Content-Security-Policy allows no inline styles."""
from __future__ import annotations


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(hex_color: str) -> float:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = luminance(a), luminance(b)
    lighter, darker = max(la, lb), min(la, lb)
    return (lighter + 0.05) / (darker + 0.05)


def text_on(background: str) -> str:
    return "#ffffff" if contrast(background, "#ffffff") >= contrast(background, "#000000") else "#000000"


def darken_for(color: str, background: str = "#ffffff", target: float = 4.5) -> str:
    """`color`, darkened in small steps until it reaches `target` contrast on `background`."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    current = color
    for _ in range(100):
        if contrast(current, background) >= target:
            return current
        r, g, b = int(r * 0.93), int(g * 0.93), int(b * 0.93)
        current = f"#{r:02x}{g:02x}{b:02x}"
    return "#000000"


def stylesheet(brand: str) -> str:
    brand = brand if isinstance(brand, str) and len(brand) == 7 and brand.startswith("#") else "#1f4e8c"
    return (
        "/* The organisation's colours, contrast-checked (app/statuspage/branding.py). */\n"
        ":root {\n"
        f"  --sp-brand: {brand};\n"
        f"  --sp-brand-text: {text_on(brand)};\n"
        f"  --sp-link: {darken_for(brand)};\n"
        "}\n"
    )
