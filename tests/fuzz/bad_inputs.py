"""The audit's bad inputs, one row per case, across every subcommand (issue 20, "Numbers").

Each row is a command line with placeholders for the files of
``BadInputFiles`` (``{pb}``, ``{corrupt_onnx}``, ...; ``{case}`` is a fresh
empty folder per row), the exit code the README documents for it, and a
fragment the error must contain (the input or option it names).
tests/fuzz/test_bad_inputs.py asserts every row; benchmarks/fuzz.py prints
the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: README "Exit codes".
USAGE, FETCH = 2, 3


@dataclass(frozen=True)
class BadInput:
    """One bad command line and what the README says it must end in."""

    command: str
    what: str
    argv: str
    code: int
    names: str  # a fragment the error names (formatted like argv)
    env: tuple[tuple[str, str], ...] = ()


def _rows(command: str, code: int, *cases: tuple[str, str, str]) -> list[BadInput]:
    return [BadInput(command, what, argv, code, names) for what, argv, names in cases]


BAD_INPUTS: list[BadInput] = [
    *_rows("inspect", USAGE,
           ("missing file", "inspect {missing}", "{missing}"),
           ("a folder", "inspect {case}", "{case}"),
           ("empty file", "inspect {empty_pb}", "{empty_pb}"),
           ("random bytes", "inspect {corrupt_pb}", "{corrupt_pb}"),
           ("truncated graph", "inspect {truncated_pb}", "{truncated_pb}"),
           ("text file", "inspect {text_pb} --json", "{text_pb}"),
           ("corrupt .onnx", "inspect {corrupt_onnx}", "{corrupt_onnx}"),
           ("corrupt .tflite", "inspect {corrupt_tflite} --json", "{corrupt_tflite}"),
           ("unknown registry name", "inspect NOPE_x3", "NOPE_x3"),
           ("not an SR model (no DepthToSpace)", "inspect {classifier_pb}", "DepthToSpace"),
           ("unknown option", "inspect {pb} --bogus", "--bogus")),
    *_rows("prune", USAGE,
           ("missing model", "prune {missing} --ratio 0.25 -o {case}/p.pb", "{missing}"),
           ("corrupt model", "prune {corrupt_pb} --ratio 0.25 -o {case}/p.pb", "{corrupt_pb}"),
           ("ratio 1", "prune {pb} --ratio 1 -o {case}/p.pb", "ratio"),
           ("negative ratio", "prune {pb} --ratio -0.1 -o {case}/p.pb", "ratio"),
           ("ratio nan", "prune {pb} --ratio nan -o {case}/p.pb", "ratio"),
           ("ratio not a number", "prune {pb} --ratio abc -o {case}/p.pb", "--ratio"),
           ("unknown scope", "prune {pb} --ratio 0.25 --scope bogus -o {case}/p.pb", "bogus"),
           ("round-to 0", "prune {pb} --ratio 0.25 --round-to 0 -o {case}/p.pb", "round"),
           ("unknown store", "prune {pb} --ratio 0.25 --store int4 -o {case}/p.pb", "int4"),
           ("unknown importance", "prune {pb} --ratio 0.25 --importance bogus -o {case}/p.pb", "bogus"),
           ("unknown compensation", "prune {pb} --ratio 0.25 --compensation bogus -o {case}/p.pb", "bogus"),
           ("output folder is a file", "prune {pb} --ratio 0.25 -o {afile}/p.pb", "{afile}"),
           ("output over the input", "prune {pb} --ratio 0.25 -o {pb}", "{pb}"),
           ("output is a folder", "prune {pb} --ratio 0.25 -o {case}", "{case}"),
           ("unknown --eval set", "prune {pb} --ratio 0.25 --max-psnr-drop 0.3 --eval Set99 -o {case}/p.pb", "Set99"),
           ("missing calib folder", "prune {pb} --ratio 0.25 --calib {missing} -o {case}/p.pb", "{missing}"),
           ("empty calib folder", "prune {pb} --ratio 0.25 --calib {empty_dir} -o {case}/p.pb", "{empty_dir}"),
           ("calib-count 0", "prune {pb} --ratio 0.25 --calib {images} --calib-count 0 -o {case}/p.pb", "calib")),
    *_rows("export", USAGE,
           ("missing model", "export {missing} --to onnx -o {case}/x.onnx", "{missing}"),
           ("corrupt model", "export {corrupt_pb} --to tflite -o {case}/x.tflite", "{corrupt_pb}"),
           ("a .tflite as input", "export {tflite} --to onnx -o {case}/x.onnx", "{tflite}"),
           ("unknown target", "export {pb} --to coreml -o {case}/x.mlmodel", "coreml"),
           ("opset too old", "export {pb} --to onnx --opset 5 -o {case}/x.onnx", "opset"),
           ("opset too new", "export {pb} --to onnx --opset 99 -o {case}/x.onnx", "opset"),
           ("unknown layout", "export {pb} --to onnx --layout nhcw -o {case}/x.onnx", "nhcw"),
           ("fixed shape not HxW", "export {pb} --to tflite --fixed-shape axb -o {case}/x.tflite", "axb"),
           ("fixed shape 0x0", "export {pb} --to tflite --fixed-shape 0x0 -o {case}/x.tflite", "0x0"),
           ("output folder is a file", "export {pb} --to onnx -o {afile}/x.onnx", "{afile}"),
           ("output over the input", "export {pb} --to tflite -o {pb}", "{pb}"),
           ("output is a folder", "export {pb} --to onnx -o {case}", "{case}")),
    *_rows("quantize", USAGE,
           ("unknown target", "quantize {pb} --to coreml --mode int8 -o {case}/q.x", "coreml"),
           ("unknown tflite mode", "quantize {pb} --to tflite --mode int4 -o {case}/q.tflite", "int4"),
           ("unknown onnx mode", "quantize {onnx} --to onnx --mode dynamic -o {case}/q.onnx", "dynamic"),
           ("a .tflite for --to onnx", "quantize {tflite} --to onnx --mode int8 -o {case}/q.onnx", "{tflite}"),
           ("corrupt .onnx", "quantize {corrupt_onnx} --to onnx --mode int8 --calib {images} -o {case}/q.onnx", "{corrupt_onnx}"),
           ("missing calib folder", "quantize {pb} --to tflite --mode int8 --calib {missing} -o {case}/q.tflite", "{missing}"),
           ("empty calib folder", "quantize {pb} --to tflite --mode int8 --calib {empty_dir} -o {case}/q.tflite", "{empty_dir}"),
           ("calib-count 0", "quantize {pb} --to tflite --mode int8 --calib {images} --calib-count 0 -o {case}/q.tflite", "calib"),
           ("unknown io dtype", "quantize {pb} --to tflite --mode int8 --io int4 -o {case}/q.tflite", "int4"),
           ("unknown equalize", "quantize {pb} --to tflite --mode int8 --equalize sometimes -o {case}/q.tflite", "sometimes"),
           ("unknown weight rounding", "quantize {pb} --to tflite --mode int8 --weight-rounding up -o {case}/q.tflite", "up"),
           ("unknown CPU target", "quantize {onnx} --to onnx --mode int8 --target z80 -o {case}/q.onnx", "z80"),
           ("negative QAT steps", "quantize {pb} --to tflite --mode int8 --qat-steps -1 -o {case}/q.tflite", "qat"),
           ("output over the input", "quantize {onnx} --to onnx --mode int8 -o {onnx}", "{onnx}"),
           ("output over the input .pb (the audit: refused only after a 60 s conversion)",
            "quantize {pb} --to tflite --mode int8 --calib {images} -o {pb}", "{pb}"),
           ("output folder is a file", "quantize {pb} --to tflite --mode float32 -o {afile}/q.tflite", "{afile}")),
    *_rows("validate", USAGE,
           ("missing artifact", "validate {missing} -d {images} --no-isolate -o {case}/r", "{missing}"),
           ("corrupt .pb", "validate {corrupt_pb} -d {images} --no-isolate -o {case}/r", "{corrupt_pb}"),
           ("corrupt .onnx", "validate {corrupt_onnx} -d {images} --no-isolate -o {case}/r", "{corrupt_onnx}"),
           ("corrupt .tflite", "validate {corrupt_tflite} -d {images} --no-isolate -o {case}/r", "{corrupt_tflite}"),
           ("empty dataset", "validate {pb} -d {empty_dir} --no-isolate -o {case}/r", "{empty_dir}"),
           ("unknown dataset", "validate {pb} -d Set99 --no-isolate -o {case}/r", "Set99"),
           ("only 2x2 images", "validate {pb} -d {tiny_images} --no-isolate -o {case}/r", "2x2"),
           ("only a truncated png", "validate {pb} -d {cut_images} --no-isolate -o {case}/r", "cut.png"),
           ("scale 2 on a x3 model", "validate {pb} -d {images} --scale 2 --no-isolate -o {case}/r", "x2"),
           ("unknown runtime", "validate {pb} -d {images} -r trt --no-isolate -o {case}/r", "trt"),
           ("unknown degradation", "validate {pb} -d {images} --degradation blur --no-isolate -o {case}/r", "blur"),
           ("repeats 0", "validate {pb} -d {images} --repeats 0 --no-isolate -o {case}/r", "repeats"),
           ("tile 0", "validate {pb} -d {images} --tile 0 --no-isolate -o {case}/r", "tile"),
           ("overlap below the receptive field", "validate {pb} -d {images} --tile 16 --overlap 1 --no-isolate -o {case}/r", "overlap"),
           ("report folder is a file", "validate {pb} -d {images} --no-isolate -o {afile}/r", "{afile}"),
           ("missing --lr folder", "validate {pb} -d {images} --lr {missing} --no-isolate -o {case}/r", "{missing}"),
           ("negative bench size", "validate {pb} -d {images} --bench-size -1 --no-isolate -o {case}/r", "bench")),
    *_rows("upscale", USAGE,
           ("missing model", "upscale {missing} {img} -o {case}/sr.png", "{missing}"),
           ("corrupt model", "upscale {corrupt_pb} {img} -o {case}/sr.png", "{corrupt_pb}"),
           ("missing image", "upscale {pb} {missing} -o {case}/sr.png", "{missing}"),
           ("corrupt image", "upscale {pb} {corrupt_png} -o {case}/sr.png", "{corrupt_png}"),
           ("two images into one file", "upscale {pb} {img} {img2} -o {case}/sr.png", "sr.png"),
           ("one image into a .txt", "upscale {pb} {img} -o {case}/x.txt", "x.txt"),
           ("unknown runtime", "upscale {pb} {img} --runtime trt -o {case}/sr.png", "--runtime"),
           ("tile 0", "upscale {pb} {img} --tile 0 -o {case}/sr.png", "tile"),
           ("overlap below the receptive field", "upscale {pb} {img} --tile 16 --overlap 1 -o {case}/sr.png", "overlap"),
           ("output folder is a file", "upscale {pb} {img} -o {afile}/sr.png", "{afile}"),
           ("output over the input image", "upscale {pb} {img} -o {img}", "{img}"),
           ("negative overlap", "upscale {pb} {img} --tile 16 --overlap -1 -o {case}/sr.png", "overlap")),
    *_rows("check", USAGE,
           ("missing report", "check {missing}", "{missing}"),
           ("a folder", "check {case}", "{case}"),
           ("corrupt json", "check {corrupt_json}", "{corrupt_json}"),
           ("report without rows", "check {empty_report}", "{empty_report}"),
           ("missing gates file", "check {report} --gates {missing}", "{missing}"),
           ("gates file not YAML", "check {report} --gates {bad_yaml}", "{bad_yaml}"),
           ("junit folder is a file", "check {report} --junit {afile}/j.xml", "{afile}"),
           ("summary over the report", "check {report} --summary {report}", "{report}"),
           ("report without recorded gates", "check {report}", "records no gates"),
           ("missing baseline", "check {report} --gates {pipelines} -p gated --baseline {missing}", "{missing}")),
    *_rows("baseline", USAGE,
           ("missing report", "baseline update {missing} --to {case}/b.json", "{missing}"),
           ("corrupt report", "baseline update {corrupt_json} --to {case}/b.json", "{corrupt_json}"),
           ("baseline over the report", "baseline update {report} --to {report}", "{report}"),
           ("baseline folder is a file", "baseline update {report} -f {pipelines} -p gated --to {afile}/b.json", "{afile}"),
           ("missing pipelines file", "baseline update {report} -f {missing} --to {case}/b.json", "{missing}")),
    *_rows("run", USAGE,
           ("missing pipelines file", "run {missing}", "{missing}"),
           ("pipelines file is a folder", "run {case}", "{case}"),
           ("YAML syntax error", "run {bad_yaml}", "{bad_yaml}"),
           ("unknown key", "run {unknown_key_yaml}", "pruen"),
           ("wrong type", "run {wrong_type_yaml}", "ratio"),
           ("unknown pipeline", "run {pipelines} -p nope", "nope"),
           ("NUL character", "run {nul_yaml}", "U+0000"),
           ("empty calib folder", "run {empty_calib_yaml} --out {case}/run", "calib"),
           ("unknown dataset", "run {unknown_set_yaml} --out {case}/run", "Set99"),
           ("missing --model", "run {pipelines} -p tiny --model {missing} --out {case}/run", "{missing}"),
           ("run folder is a file", "run {pipelines} -p tiny --out {afile}/run", "{afile}"),
           ("run folder holds other files", "run {pipelines} -p tiny --out {images}", "is not an sropt run folder"),
           ("run folder holds the model", "run {pipelines} -p tiny --model {old_run_model} --out {old_run}", "holds {old_run_model}")),
    *_rows("models", USAGE,
           ("fetch an unknown name", "models fetch NOPE_x3", "NOPE_x3"),
           ("synth an unknown family", "models synth vdsr -o {case}/m.pb", "vdsr"),
           ("synth 0 blocks", "models synth edsr -B 0 -F 16 -o {case}/m.pb", "blocks"),
           ("synth scale 5", "models synth edsr -B 1 -F 8 -s 5 -o {case}/m.pb", "scale"),
           ("synth into a file-as-folder", "models synth edsr -B 1 -F 8 -o {afile}/m.pb", "{afile}"),
           ("fetch timeout 0", "models fetch FSRCNN_x3 --timeout 0", "timeout")),
    *_rows("datasets", USAGE,
           ("fetch an unknown set", "datasets fetch Set99", "Set99"),
           ("negative timeout", "datasets fetch Set5 --timeout -1", "timeout")),
    *_rows("cache", USAGE,
           ("unknown age", "cache clean --older-than soon --dry-run", "soon"),
           ("unknown kind", "cache info --kind tapes", "tapes"),
           ("unknown kind for clean", "cache clean --kind tapes --dry-run", "tapes")),
    *_rows("package", USAGE,
           ("missing artifact", "package {missing} -o {case}/pkg", "{missing}"),
           ("a .pb", "package {pb} -o {case}/pkg", "{pb}"),
           ("corrupt .tflite", "package {corrupt_tflite} -o {case}/pkg", "{corrupt_tflite}"),
           ("output is a file", "package {tflite} -o {afile}", "{afile}"),
           ("output folder not empty", "package {tflite} -o {images}", "{images}"),
           ("missing --report", "package {tflite} --report {missing} -o {case}/pkg", "{missing}")),
    *_rows("sweep", USAGE,
           ("missing sweeps file", "sweep {missing}", "{missing}"),
           ("sweeps file not YAML", "sweep {bad_yaml}", "{bad_yaml}"),
           ("unknown engine", "sweep --engine slurm", "slurm"),
           ("jobs 0", "sweep --jobs 0", "jobs"),
           ("bad ray address", "sweep --engine ray --address ray://nohost:99999", "address")),
    *_rows("serve", USAGE,
           ("missing artifact", "serve {missing} --port 0", "{missing}"),
           ("port out of range", "serve {pb} --port 70000", "port"),
           ("workers 0", "serve {pb} --workers 0", "workers")),
    *_rows("serve", USAGE,
           ("corrupt .onnx", "serve {corrupt_onnx} --port 0", "{corrupt_onnx}")),
    *_rows("sropt", USAGE,
           ("unknown command", "bogus", "bogus"),
           ("unknown global option", "--bogus inspect {pb}", "--bogus")),
    BadInput("models", "fetch from an empty mirror", "models fetch FSRCNN_x3 --mirror {empty_dir}", FETCH, "FSRCNN_x3"),
    BadInput("datasets", "fetch from an empty mirror", "datasets fetch Set14", FETCH, "Set14",
             env=(("SROPT_DATASET_MIRROR", "{empty_dir}"),)),
]


#: Placeholder -> file name in the files folder (real suffixes: the commands dispatch on them).
FILE_NAMES = {
    "pb": "model.pb", "onnx": "model.onnx", "tflite": "model.tflite", "classifier_pb": "classifier.pb",
    "corrupt_pb": "corrupt.pb", "truncated_pb": "truncated.pb", "empty_pb": "empty.pb", "text_pb": "text.pb",
    "corrupt_onnx": "corrupt.onnx", "corrupt_tflite": "corrupt.tflite", "corrupt_png": "corrupt.png",
    "img": "img.png", "img2": "img2.png", "images": "images", "tiny_images": "tiny_images", "cut_images": "cut_images",
    "empty_dir": "empty_dir", "afile": "afile", "corrupt_json": "corrupt.json", "empty_report": "empty_report.json",
    "report": "report/report.json", "bad_yaml": "bad.yaml", "nul_yaml": "nul.yaml", "unknown_key_yaml": "unknown_key.yaml",
    "wrong_type_yaml": "wrong_type.yaml", "pipelines": "pipelines.yaml", "empty_calib_yaml": "empty_calib.yaml",
    "unknown_set_yaml": "unknown_set.yaml", "old_run": "old_run", "old_run_model": "old_run/artifacts/model.pb",
}


@dataclass(frozen=True)
class BadInputFiles:
    """The files the rows refer to, in ``root``."""

    root: Path

    def placeholders(self, case: Path) -> dict[str, str]:
        """Placeholder -> path for one row (``case`` is its own empty folder)."""
        return {**{k: str(self.root / v) for k, v in FILE_NAMES.items()}, "case": str(case),
                "missing": str(self.root / "missing" / "nothing.pb")}

    def argv(self, row: BadInput, case: Path) -> tuple[list[str], str, dict[str, str]]:
        """(argv, the fragment the error must name, environment) of ``row`` in ``case``."""
        values = self.placeholders(case)
        env = {"SROPT_CACHE_DIR": f"{case}/cache", **{k: v.format(**values) for k, v in row.env}}  # never the user's cache
        return [a.format(**values) for a in row.argv.split()], row.names.format(**values), env


def classifier_graph():
    """conv -> mean -> softmax: a valid GraphDef that is not an SR model (no DepthToSpace)."""
    import tensorflow as tf

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="input")
        y = tf.nn.conv2d(x, tf.constant(np.ones((3, 3, 3, 10), np.float32)), 1, "SAME")
        tf.nn.softmax(tf.reduce_mean(y, axis=[1, 2]), name="probs")
    return g.as_graph_def()


def make_bad_input_files(root: Path, models: dict[str, Path]) -> BadInputFiles:
    """Write every file of the table into ``root``; ``models`` gives pb, onnx, tflite and classifier_pb (report: later)."""
    import cv2

    from tests.pipeline.conftest import PIPELINE_YAML

    root.mkdir(parents=True, exist_ok=True)
    path = {k: root / v for k, v in FILE_NAMES.items()}
    rng = np.random.default_rng(20)
    for name, src in models.items():
        path[name].write_bytes(src.read_bytes())
    data = path["pb"].read_bytes()
    writes = {
        "corrupt_pb": rng.bytes(4096), "truncated_pb": data[: len(data) // 2], "empty_pb": b"", "text_pb": b"hello\n",
        "corrupt_onnx": b"not a model " * 8, "corrupt_tflite": b"TFL3" + rng.bytes(512), "corrupt_png": b"\x89PNG not really",
        "afile": b"a file where a folder is needed", "corrupt_json": b"{not json",
        "empty_report": json.dumps({"schema_version": 1, "environment": {}, "results": []}).encode(),
        "bad_yaml": b"pipelines: [\n", "nul_yaml": b"version: 1\x00\n",
        "unknown_key_yaml": PIPELINE_YAML.replace("    prune:", "    pruen:").encode(),
        "wrong_type_yaml": PIPELINE_YAML.replace("ratio: 0.25", "ratio: lots").encode(),
    }
    for name, payload in writes.items():
        path[name].write_bytes(payload)
    image = rng.integers(0, 256, (64, 72, 3), dtype=np.uint8)
    for folder in ("images", "tiny_images", "cut_images", "empty_dir"):
        path[folder].mkdir(exist_ok=True)
    cv2.imwrite(str(path["images"] / "a.png"), image)
    cv2.imwrite(str(path["tiny_images"] / "a.png"), image[:2, :2])
    cv2.imwrite(str(path["img"]), image)
    cv2.imwrite(str(path["img2"]), image[::-1])
    path["old_run_model"].parent.mkdir(parents=True, exist_ok=True)
    path["old_run_model"].write_bytes(data)
    (path["old_run"] / "resolved.yaml").write_text("pipeline: tiny\n")  # what marks a run folder
    png = path["img"].read_bytes()
    (path["cut_images"] / "cut.png").write_bytes(png[: len(png) // 2])
    tiny = (f"version: 1\npipelines:\n  tiny:\n    model: {path['pb']}\n    export: {{onnx: {{opset: 17}}}}\n"
            f"    validate: {{datasets: [{path['images']}], runtimes: [ort], repeats: 1}}\n")
    gated = tiny.replace("  tiny:", "  gated:") + f"    baseline: {root / 'baseline.json'}\n    gates: [{{metric: psnr_y, max_drop: 0.5, against: baseline}}]\n"
    path["pipelines"].write_text(tiny + gated.split("pipelines:\n", 1)[1])
    path["empty_calib_yaml"].write_text(tiny.replace("    export:", f"    prune: {{ratio: 0.25, calib: {path['empty_dir']}}}\n    export:"))
    path["unknown_set_yaml"].write_text(tiny.replace(f"datasets: [{path['images']}]", "datasets: [Set99]"))
    return BadInputFiles(root)
