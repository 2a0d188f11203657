"""``report.html``, rendered from the summary alone, so every number on the page is in summary.json."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from actassert._support.html import figure_html, page
from actassert.proportions import share_text
from actassert.tutorial.analysis import PLOTTED_KERNELS
from actassert.tutorial.layer_figures import GRID_TOP
from actassert.tutorial.page_text import (
    HOW_PARAGRAPHS,
    NORMALISATION_NOTE,
    PAGE_STYLE,
    size_comparison,
)

__all__ = ["render", "write_page"]


def _img(name: str | None, alt: str, caption: str = "", wide: bool = False) -> str:
    if not name:
        return ""
    return figure_html(name, caption or alt, wide=wide)


def _q(values: list[float] | None, unit: str = "", digits: int = 2) -> str:
    if not values:
        return "–"
    return f"{values[1]:.{digits}f}{unit} ({values[0]:.{digits}f}–{values[2]:.{digits}f})"


def _ci(share: list[float] | None) -> str:
    if not share:
        return "–"
    return share_text(*share)


_MEASURE_NAMES = {"colour_vs_grey": "colour vs grey", "suppression": "suppression index",
                  "gsf": "summation field px", "circular_variance": "circular variance",
                  "bandwidth": "bandwidth °"}


def _row_cells(exp: dict[str, Any], r: dict[str, Any], net: str) -> str:
    shares = r.get("shares") or {}
    cells = [net, str(r["kernels"]), str(r["silent"]), _ci(shares.get("responsive")),
             _ci(shares.get("selective_of_responsive")), _ci(shares.get("selective")),
             _q(r["index"])]
    cells += [_q(v, "", 0 if name == "gsf" or name == "bandwidth" else 2)
              for name, v in (r.get("measures") or {}).items()]
    if exp["key"] == "size":
        rf = r.get("receptive_field")
        flag = (" ⚠ larger than the receptive field" if rf and r["preferred"]
                and r["preferred"][1] > rf else "")
        cells += [_q(r["preferred"], " px", 0) + flag, "–" if rf is None else f"{rf:.0f}"]
    return "".join(f"<td>{escape(c)}</td>" for c in cells)


def _layer_table(exp: dict[str, Any], rows: list[dict[str, Any]],
                 control: list[dict[str, Any]] | None = None) -> str:
    measures = [_MEASURE_NAMES.get(m, m) for m in (rows[0].get("measures") or {})] if rows else []
    heads = ["layer", "network", "kernels", "silent", "responsive of all",
             "selective of responsive", "selective of all",
             "index of responsive kernels: median (quartiles)",
             *(f"{m}: median (quartiles) of responsive" for m in measures)]
    if exp["key"] == "size":
        heads += ["preferred size of selective kernels: median (quartiles)",
                  "theoretical receptive field px"]
    body = []
    for i, r in enumerate(rows):
        twin = control[i] if control else None
        span = 2 if twin else 1
        body.append(f"<tr><td rowspan={span}>{escape(r['layer'])}</td>"
                    f"{_row_cells(exp, r, 'trained')}</tr>")
        if twin:
            body.append(f"<tr>{_row_cells(exp, twin, 'untrained')}</tr>")
    head = "".join(f"<th>{escape(h)}</th>" for h in heads)
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _references(summary: dict[str, Any]) -> str:
    refs = summary.get("references") or {}
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{v['median']:g}</td><td>{escape(v['source'])}"
                   "</td></tr>" for k, v in refs.items())
    return ("<h3>Macaque V1 references</h3><p>References, not pass/fail: drawn on the depth "
            "plots beside the networks' medians.</p><table><tr><th>measure</th><th>median</th>"
            f"<th>source</th></tr>{rows}</table>")


def _kernel_table(exp: dict[str, Any], row: dict[str, Any]) -> str:
    unit = {"px": " px", "degrees": "°"}.get(exp["unit"], "")
    body = "".join(f"<tr><td>K={k['kernel']:03d}</td><td>{k['index']:.2f}</td>"
                   f"<td>{k['preferred']:g}{unit}</td></tr>" for k in row["top"])
    return (f"<table class=small><tr><th>kernel</th><th>index</th><th>preferred "
            f"{escape(exp['parameter'])}</th></tr>{body}</table>")


def _layer_section(exp: dict[str, Any], row: dict[str, Any], fig: dict[str, Any] | None) -> str:
    key, layer = exp["key"], row["layer"]
    anchor = f"{key}-{layer}"
    parts = [f'<section class="layer" id="{escape(anchor)}"><h3>{escape(layer)}</h3>',
             f"<p>{row['kernels']} kernels, {row['silent']} silent, {row['selective']} selective "
             f"({100 * row['fraction']:.0f}%). The table lists the {len(row['top'])} most "
             f"selective kernels; the tuning plot draws the first {PLOTTED_KERNELS}.</p>", _kernel_table(exp, row)]
    if fig:
        parts.append(_img(fig["tuning"], f"{layer} tuning", f"{layer}: tuning curves"))
        shown = len(fig["shown_kernels"])
        caption = f"{layer}: maps for {fig['stimulus']}"
        if fig["full_grid"]:
            caption = (f"{layer}: the {shown} kernels with the highest mean response to "
                       f"{fig['stimulus']}, strongest first")
        parts.append(_img(fig["grid"], f"{layer} grid", caption, wide=True))
        if fig["full_grid"]:
            parts.append(f'<p><a href="{escape(fig["full_grid"])}">All {row["kernels"]} '
                         f"kernels of {escape(layer)}</a> (one large image).</p>")
    return "".join(parts) + "</section>"


def _experiment(exp: dict[str, Any], summary: dict[str, Any]) -> str:
    key = exp["key"]
    how = HOW_PARAGRAPHS[key].format(stimuli=escape(exp["stimuli"]), measure=escape(exp["measure"]),
                                     index=escape(exp["index"]), min_index=exp["min_index"],
                                     criterion=escape(summary.get("criterion", "")))
    parts = [f'<section id="{key}"><h2>{escape(exp["title"])}</h2>',
             f'<p class="answer">{escape(exp["answer"])}</p>',
             _img(summary["depth_plots"].get(key), f"{key} across depth",
                  f"{exp['title']} across depth: left, the share of selective kernels; right, "
                  + ("the preferred size" if key == "size" else "the index") + " (median, "
                  "bars from the 25% to the 75% quantile)", wide=True),
             f"<h3>How it is measured</h3><p>{how}</p>"]
    if key == "size":
        parts.append(f"<p>{escape(size_comparison(exp))}</p>")
        parts.append("<h4>Foreground mean, for comparison</h4>"
                     + _layer_table(exp, exp["alternative"], exp.get("control_alternative")))
    parts.append("<h4>Every layer" + (", centre measure" if key == "size" else "")
                 + ", trained and untrained</h4>"
                 + _layer_table(exp, exp["layers"], exp.get("control")))
    parts.append(_img(summary["strips"].get(key), f"{key} stimuli", "The stimuli"
                      + (" (phase 0 shown)" if key == "orientation" else ""), wide=True))
    figs = summary["figures"].get(key, {})
    parts.extend(_layer_section(exp, row, figs.get(row["layer"])) for row in exp["layers"])
    return "".join(parts) + "</section>"


def _photos(summary: dict[str, Any]) -> str:
    photos = summary["photos"]
    parts = ['<section id="photos"><h2>Natural images</h2>']
    if photos["missing"]:
        return "".join(parts) + f"<p>{escape(photos['missing'])}</p></section>"
    parts.append(f"<p>{NORMALISATION_NOTE}</p>")
    parts.append(_img(photos["strip"], "photos", "The photos as the network sees them "
                      f"({summary['design']['side']} x {summary['design']['side']} px)", wide=True))
    rows = "".join(
        f"<tr><td>{escape(p['name'])}</td><td>{p['original_size'][0]} x {p['original_size'][1]}"
        "</td><td>" + "; ".join(f"{escape(c)} {100 * q:.1f}%" for c, q in p["top5"])
        + "</td></tr>" for p in photos["photos"])
    parts.append("<table><tr><th>photo</th><th>original size (px)</th><th>top-5 classes "
                 f"(probability)</th></tr>{rows}</table>")
    parts.append(f"<h3>Kernel grids for the photo '{escape(str(photos['grid_photo']))}'</h3>")
    for layer, (grid, full, shown) in photos["grids"].items():
        what = (f"the {len(shown)} most active kernels" if full else "every kernel")
        parts.append(_img(grid, f"{layer} photo grid", f"{layer}: {what}", wide=True))
        if full:
            parts.append(f'<p><a href="{escape(full)}">All kernels of {escape(layer)}</a></p>')
    return "".join(parts) + "</section>"


def _header(summary: dict[str, Any]) -> str:
    weights = summary["weights"] or "none (random initialisation)"
    control = summary.get("control") or {"run": False, "note": "not run"}
    twin = (f"untrained twin: same architecture, random initialisation with seed "
            f"{control['seed']}, same stimuli and layers" if control["run"]
            else f"not run: {control['note']}")
    versions = ", ".join(f"{k} {v}" for k, v in summary["versions"].items())
    stimuli = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>"
                      for k, v in summary["stimuli"].items())
    answers = "".join(f"<li>{escape(e['answer'])}</li>" for e in summary["experiments"].values())
    return (f"<h1>Activation maps of {escape(summary['model'])}: colour, size and orientation "
            f"across depth</h1><table class=meta><tr><th>model</th><td>{escape(summary['model'])}"
            f"</td></tr><tr><th>weights used</th><td>{escape(weights)}</td></tr>"
            f"<tr><th>control</th><td>{escape(twin)}</td></tr><tr><th>device"
            f"</th><td>{escape(summary['device'])}</td></tr><tr><th>versions</th><td>"
            f"{escape(versions)}</td></tr><tr><th>layers</th><td>{len(summary['layers'])}: "
            f"{escape(', '.join(summary['layers']))}</td></tr><tr><th>run time</th><td>"
            f"{summary['seconds']:.1f} s (sweeps and figures)</td></tr></table>"
            f"<h3>Stimuli</h3><ul>{stimuli}</ul><h3>Answers</h3><ul class=answers>{answers}</ul>"
            '<p>Sections: <a href="#colour">colour</a> · <a href="#size">size</a> · '
            '<a href="#orientation">orientation</a> · <a href="#photos">natural images</a>. '
            f"Layers with more than {2 * GRID_TOP} kernels show their {GRID_TOP} most active "
            "kernels for the stimulus (highest mean response over the map), with a link to the "
            "full grid.</p>")


def render(summary: dict[str, Any]) -> str:
    """The page's HTML from ``Report.summary()`` (or the parsed summary.json)."""
    body = _header(summary) + "".join(_experiment(e, summary)
                                      for e in summary["experiments"].values())
    body += _references(summary)
    return page(f"actassert tutorial: {summary['model']}", body + _photos(summary),
                style=PAGE_STYLE)


def write_page(report: Any, out: Path) -> Path:
    """Write ``out/report.html`` for ``report`` and return its path."""
    target = out / "report.html"
    target.write_text(render(report.summary()), encoding="utf-8")
    return target
