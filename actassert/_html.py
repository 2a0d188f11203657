"""The HTML pieces the failure gallery and the tutorial page share: a linked figure."""

from __future__ import annotations

from html import escape

__all__ = ["figure_html"]


def figure_html(src: str, caption: str, *, alt: str | None = None, wide: bool = False) -> str:
    """A ``<figure>`` showing the image ``src`` (a relative path), linked to itself, with a caption.

    Example:
        >>> figure_html("a/b.png", "b.png")
        '<figure><a href="a/b.png"><img src="a/b.png" alt="a/b.png"></a><figcaption>b.png</figcaption></figure>'
    """
    cls = ' class="wide"' if wide else ""
    return (f'<figure{cls}><a href="{escape(src)}"><img src="{escape(src)}" '
            f'alt="{escape(src if alt is None else alt)}"></a>'
            f"<figcaption>{escape(caption)}</figcaption></figure>")
