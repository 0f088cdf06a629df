"""Where a default full-INT8 `sropt quantize` spends its time, and what it chooses (issue 15, item 4).

    python -m benchmarks.quantize_search FSRCNN_x3                       # defaults: 64 T91 crops
    python -m benchmarks.quantize_search /tmp/edsr_p25.pb --calib-count 16

Runs ``quantize_tflite`` once with the CLI's defaults (equalize and
weight rounding on auto) and wraps the library's phases with timers:
calibration crops, equalization ranges, GPTQ (input moments, rounding),
TFLite conversions, candidate inference + PSNR, and the final write (which
loads and runs the file in LiteRT). Then scores the chosen file on T91 and
Set5 x3 (whole images, the quality module's protocol: MATLAB bicubic LR,
PSNR-Y, border = scale); Set5 is only read here, after the choice.
Prints one JSON object; the tables in docs/quantize.md come from it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any


class PhaseTimer:
    """Seconds and calls per phase, collected by wrapping module functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)  # process CPU time: less moved by other load than wall time
        self.calls: dict[str, int] = defaultdict(int)
        self._depth = 0

    def wrap(self, module: Any, attr: str, phase: str) -> None:
        """Replace ``module.attr`` by a timed call; nested timed calls count only in the outer phase."""
        inner: Callable = getattr(module, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return inner(*args, **kwargs)
            self._depth += 1
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self._depth -= 1
                self.seconds[phase] += time.perf_counter() - start
                self.cpu[phase] += time.process_time() - cpu
                self.calls[phase] += 1

        setattr(module, attr, timed)


def instrument() -> PhaseTimer:
    """Time the phases of the weights search where the library looks them up."""
    import sropt.quantize.equalize as equalize
    import sropt.quantize.quality as quality
    import sropt.quantize.ranges as ranges
    import sropt.quantize.rounding as rounding
    import sropt.quantize.tflite_modes as modes
    import sropt.quantize.tflite_quantize as tq
    import sropt.validate.calibration as vcal

    timer = PhaseTimer()
    timer.wrap(vcal, "load_calibration", "calibration crops")
    timer.wrap(equalize, "channel_ranges", "equalization ranges")
    timer.wrap(rounding, "input_moments", "GPTQ input moments")
    timer.wrap(rounding, "round_weights", "GPTQ rounding")
    timer.wrap(modes, "convert_mode", "TFLite conversions")
    timer.wrap(tq, "convert_mode", "TFLite conversions")
    timer.wrap(quality, "load_budget_pairs", "candidate images (load)")
    timer.wrap(quality, "tflite_predictor", "candidate inference + PSNR")
    timer.wrap(quality, "image_psnrs", "candidate inference + PSNR")
    timer.wrap(ranges, "choose_ranges", "trimmed ranges (calibrate, per-crop extremes, quantize, measure both)")
    timer.wrap(tq, "write_tflite", "write + LiteRT check")
    return timer


def score(path: Path, source: Any, folder: Path) -> float:
    """Mean PSNR-Y (dB) of the .tflite at ``path`` on ``folder``'s whole images."""
    from sropt.quantize.calibration import calibration_images
    from sropt.quantize.quality import BUDGET_HR_CROP, load_budget_pairs, image_psnrs, tflite_predictor
    from sropt.validate.dataset import list_images

    images = list_images(folder) if folder.name in ("Set5", "Set14") else calibration_images(folder)
    pairs = load_budget_pairs(images, source.scale, len(images), BUDGET_HR_CROP)
    return float(image_psnrs(tflite_predictor(path.read_bytes(), source), pairs, source.contract, source.scale).mean())


def main() -> None:
    """Run one default INT8 quantize with phase timers and print the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="registry name or .pb")
    parser.add_argument("--calib-count", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("/tmp/quantize_search.tflite"))
    parser.add_argument("--datasets", type=Path, default=None, help="folder holding T91 and Set5")
    args = parser.parse_args()

    from sropt.core.locations import datasets_dir
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig

    timer = instrument()
    from sropt.quantize.tflite_quantize import quantize_tflite

    datasets = args.datasets or datasets_dir()
    config = QuantizeConfig(target="tflite", mode="int8",
                            calibration=CalibrationConfig(folder=datasets / "T91", calib_count=args.calib_count))
    messages: list[tuple[float, str]] = []
    start, cpu = time.perf_counter(), time.process_time()
    result = quantize_tflite(args.model, args.out, config,
                             progress=lambda m: messages.append((round(time.perf_counter() - start, 1), m)))
    total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    weights = result.weights or {}
    record = {
        "model": args.model, "calib_count": args.calib_count, "total_s": round(total, 1),
        "total_cpu_s": round(total_cpu, 1),
        "phases": {k: {"s": round(v, 1), "cpu_s": round(timer.cpu[k], 1), "calls": timer.calls[k]}
                   for k, v in sorted(timer.seconds.items())},
        "ranges": (result.artifact.provenance[-1] if result.artifact.provenance else {}).get("ranges"),
        "chosen": weights.get("chosen"), "candidates": weights.get("candidates"), "refined": weights.get("refined"),
        "size_bytes": result.artifact.size_bytes,
        "psnr_t91_db": round(score(args.out, result.artifact, datasets / "T91"), 4),
        "psnr_set5_db": round(score(args.out, result.artifact, datasets / "Set5"), 4),
        "progress": messages,
    }
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
