"""The HTML the failure gallery and the tutorial page share: the page skeleton and a figure.

Both pages are built the same way: :func:`page` wraps a body (escaped by its caller) in one
skeleton holding the common style and the script that counts the figures a browser could show
(``data-loaded`` / ``data-missing`` on ``<body>``, and a note naming a missing file in place of a
broken icon); each page adds only its own CSS.
"""

from __future__ import annotations

from html import escape

__all__ = ["figure_html", "page"]

_BASE_STYLE = """body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
figure { display: inline-block; margin: .3rem; vertical-align: top; }
figure img { border: 1px solid #ccc; background: #fff; }
.missing { display: inline-block; padding: 2rem 1rem; border: 1px dashed #b00020; color: #b00020; }
"""

_COUNT_FIGURES = """<script>
// Count the figures the browser could show; a file that is gone is named instead of a broken icon.
for (const img of document.querySelectorAll("figure img")) {
  const done = (ok) => {
    const key = ok ? "loaded" : "missing";
    document.body.dataset[key] = Number(document.body.dataset[key]) + 1;
    if (!ok) {
      const note = document.createElement("span");
      note.className = "missing";
      note.textContent = "missing file: " + img.alt;
      img.replaceWith(note);
    }
  };
  if (img.complete) done(img.naturalWidth > 0);
  else { img.onload = () => done(true); img.onerror = () => done(false); }
}
</script>"""


def page(title: str, body: str, *, style: str = "") -> str:
    """A whole HTML page: ``title`` (plain text, escaped here), ``body`` (HTML), and CSS added
    to the shared style.

    Example:
        >>> "<h1>hi</h1>" in page("a < b", "<h1>hi</h1>")
        True
    """
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title>\n<style>\n{_BASE_STYLE}{style}</style></head>\n"
            f'<body data-loaded="0" data-missing="0">\n{body}\n{_COUNT_FIGURES}\n</body></html>\n')


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
