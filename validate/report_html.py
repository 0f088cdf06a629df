"""report.html: rendered from the page context with the jinja2 templates in validate/templates.

Everything is embedded (PNG as base64 data URIs) so the file can be mailed
or archived by CI as a single artifact. `sropt validate` renders
validate.html, `sropt run` run.html; both extend base.html and include the
same summary, pictures and details blocks.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from sropt.validate.imageio import encode_png
from sropt.validate.report_plots import quality_plot
from sropt.validate.results import Crop


def data_uri(png: bytes) -> str:
    """A PNG as a data URI for an <img src>."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _image_uri(img: Any) -> str | None:
    try:
        return data_uri(encode_png(img))
    except Exception:  # an unencodable panel is stated in place, never a traceback
        return None


def crop_pictures(crops: list[Crop], scale: Any, rename: Callable[[str], str] = str) -> list[dict[str, Any]]:
    """The crops as template data: panels with their PSNR, heat maps aligned under the panels they compare."""
    out = []
    for crop in crops:
        y0, x0, n = crop.box
        titles = list(dict.fromkeys([*crop.panels, *crop.missing]))
        panels = [{"title": rename(t), "src": _image_uri(crop.panels[t]) if t in crop.panels else None,
                   "psnr": f"{crop.psnr[t]:.2f} dB" if t in crop.psnr else ""} for t in titles]
        legend = f"maps below: |ΔY| against this output, black 0 to yellow {crop.heat_max:.1f}+ levels"
        heat = [{"title": rename(t), "src": _image_uri(crop.heat[t])} if t in crop.heat
                else ({"caption": legend} if t == crop.reference and crop.heat else None) for t in titles]
        why = (f"Chosen where the outputs differ most from {rename(crop.reference)} (their mean squared ΔY on this image, "
               f"summed: {crop.difference:.3g} levels²)." if crop.difference > 0 else
               "No artifact differs from the reference output here: the first images and their most textured window are shown.")
        out.append({
            "heading": f"{crop.dataset} x{scale} ({crop.degradation}): {crop.image}, {n}x{n} px at x={x0}, y={y0}, shown at 2x",
            "why": why, "size": n, "panels": panels, "heat": heat if crop.heat else [],
        })
    return out


def plot_pictures(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The quality-vs-latency/size figure of every dataset in report.json ``doc``."""
    from sropt.validate.report_summary import dataset_name

    plots = []
    for dataset in dict.fromkeys(dataset_name(r) for r in doc.get("results", [])):
        png = quality_plot(doc, dataset)
        if png is not None:
            plots.append({"alt": f"{dataset}: PSNR-Y against latency and against file size", "src": data_uri(png)})
    return plots


def templates():
    """The jinja2 environment over validate/templates (shared by the `validate` and `run` pages)."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("sropt.validate", "templates"), autoescape=True,
                              undefined=jinja2.ChainableUndefined)


def render_html(context: dict[str, Any], template: str = "validate.html") -> str:
    """The self-contained report page from ``context`` (``page_context``)."""
    return templates().get_template(template).render(v=context) + "\n"
