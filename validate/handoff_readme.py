"""The README of a hand-off package: one model, its numbers, its contract, how to run and measure it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sropt.validate.handoff import Handoff, Measurement

BENCHMARK_URL = ("https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/"
                 "nightly/latest/android_aarch64_benchmark_model")


def render_readme(handoff: "Handoff", measurement: "Measurement | None", shape: tuple[int, int], files: list[str]) -> str:
    """Markdown for ``handoff``; ``shape`` is the H, W the benchmark command uses."""
    art = handoff.artifact
    sections = [_summary(handoff), _measured(measurement), _contract(handoff.contract), _known(handoff),
                _usage(art.path.name, art.kind.value, files), _delegates(handoff), _benchmark(handoff, shape, measurement)]
    return f"# {art.path.name}: x{art.scale} super-resolution\n\n" + "\n".join(s for s in sections if s)


def _tensor(facts: dict[str, Any]) -> str:
    shape = "[" + ",".join("?" if v < 0 else str(v) for v in facts["shape"]) + "]"
    quant = f", scale {facts['scale']:.9g}, zero point {facts['zero_point']}" if "scale" in facts else ""
    return f"`{facts['name']}` {facts['dtype']} {shape}{quant}"


def _summary(handoff: "Handoff") -> str:
    art = handoff.artifact
    family = art.family.value if handoff.family_known else "unknown (see below)"
    meta = handoff.metadata
    rows = [
        ("file", f"{art.path.name}, {art.size_bytes:,} bytes ({art.size_bytes / 1024:.1f} KiB)"),
        ("family / scale", f"{family} x{art.scale}"),
        ("precision", art.precision),
        ("input", _tensor(handoff.io["input"])),
        ("output", _tensor(handoff.io["output"])),
        ("made by", "sropt (sidecar " + ("present)" if handoff.sidecar else "missing: facts below are inferred)")),
    ]
    if art.kind.value == "tflite":
        rows.append(("TFLite metadata", f"TFLITE_METADATA, min parser {meta['min_parser_version']}" if meta else "none"))
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"| | |\n|---|---|\n{body}\n"


def _measured(measurement: "Measurement | None") -> str:
    if measurement is None:
        return "## Measured\n\nNo validation report was found beside the model; run `sropt package MODEL -o DIR --report report.json`.\n"
    if not measurement.rows:
        return f"## Measured\n\n{measurement.report} has no row for this file.\n"
    lines = ["## Measured", "", f"From `{measurement.report.name}`. Latency was measured on **{measurement.cpu}** "
             f"({measurement.machine or 'build machine'}), not on a phone: measure the device with the command below.", "",
             "| runtime | dataset | degradation | PSNR-Y dB | SSIM-Y | latency median ms | latency input | threads |",
             "|---|---|---|---|---|---|---|---|"]
    for r in measurement.rows:
        lat = r.get("latency_ms") or {}
        lines.append(f"| {r.get('runtime')} | {r.get('dataset')} | {r.get('degradation')} | {r.get('psnr_y')} | "
                     f"{r.get('ssim_y')} | {lat.get('median', '-')} | {r.get('latency_input') or '-'} | {r.get('threads') or '-'} |")
    protocol = measurement.rows[0].get("metric_protocol")
    if protocol:
        lines += ["", f"PSNR/SSIM protocol: {protocol}."]
    return "\n".join(lines) + "\n"


def _contract(c: dict[str, Any]) -> str:
    io = c["io"]
    lines = ["## Contract (pre- and post-processing)", "",
             f"- Input `{io['input']['name']}` ({c['layout']} tensor; shapes written NHWC): {c['input']}.",
             f"- Normalization: value = (pixel - mean) / std with mean {c['mean']}, std {c['std']}; "
             f"range {c['input_range'][0]} .. {c['input_range'][1]}.",
             f"- Output `{io['output']['name']}` ({c['layout']} tensor): {c['output']}.",
             f"- To an image: {c['postprocess']}."]
    if c.get("chroma"):
        lines.append(f"- Chroma: {c['chroma']}.")
    for role in ("input", "output"):
        t = io[role]
        if "scale" in t:
            lines.append(f"- The {role} tensor is {t['dtype']}: q = round(value / {t['scale']:.9g}) + {t['zero_point']}, "
                         f"value = (q - {t['zero_point']}) * {t['scale']:.9g}.")
        else:
            lines.append(f"- The {role} tensor is {t['dtype']}: feed/read the values above directly.")
    lines.append(f"- Rounding to 8 bits: {c['rounding']}.")
    return "\n".join(lines) + "\n"


def _known(handoff: "Handoff") -> str:
    if handoff.sidecar:
        return ""
    lines = ["## Inferred, not known", ""] + [f"- inferred: {x}" for x in handoff.inferred]
    lines += [f"- unknown: {x}" for x in handoff.unknown]
    return "\n".join(lines) + "\n"


def _usage(model: str, kind: str, files: list[str]) -> str:
    runtime = "tflite" if kind == "tflite" else "ort"
    lines = ["## Use it", "",
             f"- Python: `python upscale.py in.png out.png` writes the same bytes as "
             f"`sropt upscale {model} in.png -o out.png --runtime {runtime}` (a test runs both).",]
    if "SuperResolution.kt" in files:
        lines.append("- Android: `SuperResolution.kt` (LiteRT `Interpreter`, Bitmap in and out). Its colour conversions "
                     "are OpenCV's integer formulas; its float bilinear chroma can round a pixel one level differently "
                     "from OpenCV's resize, so compare against upscale.py with a tolerance of 1. sropt's tests do not "
                     "compile it (no Android toolchain); upscale.py is the tested reference.")
    lines.append("- `metadata.json`: the contract and I/O tensors as data; the .tflite carries the same in its "
                 "TFLite metadata (`sropt inspect MODEL`).")
    return "\n".join(lines) + "\n"


def _delegates(handoff: "Handoff") -> str:
    """What is known about GPU/NPU readiness, and what this machine could not exercise."""
    d = handoff.delegates
    if not d:
        return ""
    compiled = d["compiled_model"]
    lines = ["## Accelerators", ""] + [f"- {note}" for note in d["notes"]]
    cpu = compiled["cpu_vs_interpreter"]
    lines.append(f"- LiteRT `CompiledModel` on {compiled['machine']}: "
                 + (cpu.get("error") or f"CPU output {'identical to' if cpu['identical'] else 'differs from'} the "
                    f"`Interpreter`'s (max |diff| {cpu['max_abs_diff']:g})") + "; "
                 + "; ".join(f"{p['accelerators']} {'compiles' if p['compiled'] else 'does not compile'}"
                             for p in compiled["accelerators"]) + ".")
    lines += ["", "On a phone, `benchmark_model --use_gpu=true` (below) logs `Replacing N out of M node(s) with "
              "delegate`: N = M means every op runs on the GPU."]
    return "\n".join(lines) + "\n"


def _benchmark(handoff: "Handoff", shape: tuple[int, int], measurement: "Measurement | None") -> str:
    art = handoff.artifact
    if art.kind.value != "tflite":
        return ("## Measure on a phone\n\nLiteRT's `benchmark_model` runs .tflite files: package the .tflite "
                "artifact of the same pipeline for phone numbers.\n")
    h, w = shape
    c = art.contract.input_channels
    graph = f"/data/local/tmp/{art.path.name}"
    base = (f"adb shell /data/local/tmp/benchmark_model --graph={graph} --num_threads=4 "
            f"--input_layer=lr_image --input_layer_shape=1,{h},{w},{c}")
    return "\n".join([
        "## Measure on a phone", "",
        "```sh",
        f"curl -Lo benchmark_model {BENCHMARK_URL}",
        "adb push benchmark_model /data/local/tmp/ && adb shell chmod +x /data/local/tmp/benchmark_model",
        f"adb push {art.path.name} /data/local/tmp/",
        f"{base}                  # CPU (XNNPACK)",
        f"{base} --use_gpu=true   # GPU delegate",
        "```", "",
        f"`{h}x{w}` is the LR input size" + (" our latency was measured at" if measurement and measurement.rows else "")
        + "; read `Inference timings in us: ... Inference (avg)` against the `latency median ms` above "
        "(ours is a median, benchmark_model's an average; both exclude the first warm-up run).",
    ]) + "\n"
