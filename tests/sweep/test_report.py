"""sweep.md / sweep.html from a fake-stage sweep: winners, fronts, the plot."""

from __future__ import annotations

import base64
import re
import struct

from sropt.sweep.config import load_sweeps, plan_sweep
from sropt.sweep.engines import LocalEngine
from sropt.sweep.runner import run_sweep


def test_html_page_has_the_winner_every_candidate_and_the_front_plot(sweep_file, fake_stages):
    file, raw, path = load_sweeps(sweep_file)
    out = sweep_file.parent / "out"
    result = run_sweep(plan_sweep(file, raw, "grid4", path=path), out, LocalEngine(jobs=1))
    html = (out / "sweep.html").read_text()
    assert f"<title>sropt sweep {result['sweep']}</title>" in html  # its own title in the shared report base
    assert "Goal: maximize speed_up subject to psnr_drop &lt;= 0.5." in html
    # The fake validator times everything at 10 ms, so every speed-up is 1.00 and the tie goes to the smallest drop:
    # prune / export.onnx at 0.30 dB (FAKE_PSNR 30.50 - 30.20); the first such candidate is grid4_p00's prune in OpenCV.
    w = result["winners"]["overall"]
    assert (w["point"], w["stage"], w["runtime"], w["psnr_drop"]) == ("grid4_p00", "prune", "opencv", {"Set5": 0.3})
    assert "<b>grid4_p00 prune</b> in opencv: speed-up x1.00" in html
    assert html.count("<tr class=") == sum(len(p["candidates"]) for p in result["points"]) == 28
    assert "psnr_drop 1.1 &gt; 0.5" in html  # the TFLite INT8 rows (29.40 dB) break the budget
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (800, 500)
    md = (out / "sweep.md").read_text()
    assert "- overall: grid4_p00 prune in opencv: speed-up x1.00" in md
