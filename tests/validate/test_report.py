"""The validation report a reader sees: summary cells, crops chosen where outputs differ, heat maps, bad input.

Values are checked against independent computations: the speed-up against
the two latencies in report.json, the chosen images against differences
computed here from each model's own upscale_image output (BT.601 Y written
out below), the heat map against matplotlib's inferno endpoints, the crop
PSNR against numpy.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from sropt.validate import ValidationConfig, validate_artifacts, write_report
from sropt.validate.prepare import best_window, pick_crop_box
from sropt.validate.report_crops import OutputRow, choose_crops, heat_map, y_difference
from sropt.validate.report_words import parity_sentence, percent

SCALE = 2
#: matplotlib's inferno at 0 and 1 (its published first and last entries #000004 and #fcffa4), as BGR.
INFERNO_0, INFERNO_1 = (4, 0, 0), (164, 255, 252)


def _y(bgr: np.ndarray) -> np.ndarray:
    """BT.601 Y of a BGR uint8 image, written out independently of sropt.validate.colour."""
    b, g, r = (bgr[..., i].astype(np.float64) for i in range(3))
    return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three random-weight EDSR-layout graphs (B=1, F=8, x2): a reference and two that differ from it."""
    from sropt.models.synth import build_edsr_graph

    out = tmp_path_factory.mktemp("models")
    paths = []
    for name, seed in (("ref", 0), ("other_a", 1), ("other_b", 2)):
        path = out / f"{name}.pb"
        path.write_bytes(build_edsr_graph(1, 8, SCALE, seed, quantize_weights=False).SerializeToString())
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def textures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five HR images of different texture strength (smooth to noisy), 40x48."""
    root = tmp_path_factory.mktemp("textures")
    rng = np.random.default_rng(7)
    for i, contrast in enumerate((5, 80, 20, 120, 40)):
        base = np.full((40, 48, 3), 120.0) + rng.normal(0, contrast, (40, 48, 3))
        cv2.imwrite(str(root / f"img{i}.png"), np.clip(base, 0, 255).astype(np.uint8))
    return root


@pytest.fixture(scope="module")
def validated(models: list[Path], textures: Path, tmp_path_factory: pytest.TempPathFactory):
    cfg = ValidationConfig(datasets=[textures], runtimes=["opencv"], repeats=1, threads=1, bench_size=16, isolate=False, crop_size=16)
    report = validate_artifacts(models, cfg)
    out = tmp_path_factory.mktemp("report")
    return report, write_report(report, out)


def _independent_outputs(models: list[Path], textures: Path) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{image: {model stem: (SR output, HR)}} from each model's upscale_image in OpenCV."""
    from sropt.validate.degradation import get_degradation, mod_crop
    from sropt.validate.inference import upscale_image
    from sropt.validate.resolve import open_artifact
    from sropt.validate.runners import get_runner

    runners = {p.stem: get_runner("opencv")().load(open_artifact(p).artifact, 1) for p in models}
    out = {}
    for f in sorted(textures.iterdir()):
        hr = mod_crop(cv2.imread(str(f)), SCALE)
        lr = get_degradation("matlab-bicubic")(hr, SCALE)
        out[f.name] = {stem: (upscale_image(r, lr), hr) for stem, r in runners.items()}
    return out


def test_crops_are_the_images_where_outputs_differ_most(validated, models, textures) -> None:
    report, _ = validated
    outputs = _independent_outputs(models, textures)
    score = {name: sum(np.mean((_y(o[s][0]) - _y(o["ref"][0])) ** 2) for s in ("other_a", "other_b")) for name, o in outputs.items()}
    expected = sorted(score, key=lambda n: -score[n])[:3]
    assert [c.image for c in report.crops] == expected
    for crop in report.crops:
        assert crop.reference == "ref.pb [opencv]" and crop.difference == pytest.approx(score[crop.image], rel=1e-9)
        y0, x0, n = crop.box
        cut = (slice(y0, y0 + n), slice(x0, x0 + n))
        sr, hr = outputs[crop.image]["other_a"]
        assert np.array_equal(crop.panels["other_a.pb [opencv]"], sr[cut])
        mse = np.mean((_y(sr[cut]) - _y(hr[cut])) ** 2)
        assert crop.psnr["other_a.pb [opencv]"] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)
        # The heat map: black where the outputs agree, saturated at or above the stated scale.
        diff = np.abs(_y(sr[cut]) - _y(outputs[crop.image]["ref"][0][cut]))
        heat = crop.heat["other_a.pb [opencv]"]
        assert all(tuple(heat[p]) == INFERNO_1 for p in zip(*np.nonzero(diff >= crop.heat_max)))
        assert all(tuple(heat[p]) == INFERNO_0 for p in zip(*np.nonzero(diff == 0)))


def test_summary_speedup_is_the_ratio_of_the_latencies_in_report_json(validated) -> None:
    _, paths = validated
    rows = {Path(r["artifact"]).name: r for r in json.loads(paths["json"].read_text())["results"]}
    page = html_lib.unescape(paths["html"].read_text())
    summary = page.split('<table class="summary">', 1)[1].split("</table>", 1)[0]
    ref_ms = rows["ref.pb"]["latency_ms"]["median"]
    for name in ("ref.pb", "other_a.pb", "other_b.pb"):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", summary.split(f"<b>{name}</b>", 1)[1].split("</tr>", 1)[0], re.S)
        ms = rows[name]["latency_ms"]["median"]
        assert f"{ms:.1f} ms" in cells and f"{ref_ms / ms:.2f}x" in cells, cells
    # Δ vs bicubic of other_a on the set: its PSNR minus the bicubic row's, to 2 decimals.
    bicubic = rows["bicubic"]["psnr_y"]
    assert f"{rows['other_a.pb']['psnr_y'] - bicubic:+.2f} dB" in summary.split("<b>other_a.pb</b>", 1)[1].split("</tr>", 1)[0]


def test_crop_captions_and_markdown_come_from_the_same_context(validated) -> None:
    report, paths = validated
    page, md = html_lib.unescape(paths["html"].read_text()), paths["md"].read_text()
    for crop in report.crops:
        assert f"{crop.image}, 16x16 px at x={crop.box[1]}, y={crop.box[0]}, shown at 2x" in page
        assert f"<b>{crop.psnr['other_b.pb [opencv]']:.2f} dB</b>" in page
    context = json.loads((paths["json"].parent / "report.context.json").read_text())
    speed = {r["name"]: r["speedup"] for r in context["summary"]["rows"]}
    assert all(f"| {speed[n]} |" in md for n in ("ref.pb", "other_a.pb", "other_b.pb"))
    assert "data:image/png;base64," in page and page.count('width="32" height="32"') >= 3 * 5  # 2x of 16 px


def test_best_window_on_a_hand_made_weight() -> None:
    weight = np.zeros((40, 48))
    weight[16:24, 24:32] = 1.0
    assert best_window(weight, 8, cells=8) == (16, 24, 8)  # a 1 px grid
    # 16 px windows on a 2 px grid: the first window holding the whole block.
    assert best_window(weight, 16, cells=8) == (8, 16, 16)


def test_pick_crop_box_finds_the_textured_patch_on_its_grid() -> None:
    img = np.full((64, 80, 3), 128, np.uint8)
    img[40:56, 48:64] = np.random.default_rng(3).integers(0, 256, (16, 16, 3))  # the only texture
    # 16 px windows on an 8 px grid (max(8, 16 // 4)): the one that holds the whole patch.
    assert pick_crop_box(img, 16) == (40, 48, 16)
    # A window larger than the image shrinks to it first, and the grid follows the shrunk window:
    # 40 px (the image's height) on a 10 px grid (not 96 // 4 = 24): x0 = 30 is the first window
    # holding the patch's Laplacian, columns 49..62.
    tall = np.full((40, 80, 3), 128, np.uint8)
    tall[8:24, 50:62] = np.random.default_rng(4).integers(0, 256, (16, 12, 3))
    assert pick_crop_box(tall, 96) == (0, 30, 40)


def test_heat_map_of_a_hand_made_pair() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[1, 2] = 10  # a gray step of 10: Y moves by 219/255 * 10
    diff = y_difference(b, a)
    assert diff[1, 2] == pytest.approx(219 / 255 * 10) and diff.sum() == pytest.approx(219 / 255 * 10)
    heat = heat_map(diff, 4.0)
    assert tuple(heat[1, 2]) == INFERNO_1 and tuple(heat[0, 0]) == INFERNO_0
    assert heat.dtype == np.uint8 and heat.shape == (4, 4, 3)


def test_parity_sentences() -> None:
    near = {"identical": 0.999946, "within_1_level": 1.0, "max_abs_diff": 1, "reference": "/c/m.export.onnx [ort]"}
    assert parity_sentence([near], "/run/m.export.onnx") == "identical to its ONNX Runtime output on 99.99% of pixels, never more than 1 level off"
    int8 = {"identical": 0.789632, "within_1_level": 0.962692, "max_abs_diff": 3, "reference": "/c/q.onnx [ort]"}
    assert parity_sentence([int8], "/r/q.onnx") == ("identical to its ONNX Runtime output on 78.96% of pixels, within 1 level on 96.26%, "
                                                     "at most 3 levels off")
    same = {"identical": 1.0, "within_1_level": 1.0, "max_abs_diff": 0, "reference": "/m/f.pb [opencv]"}
    assert parity_sentence([same, near], "/x/g.onnx") == "identical to f.pb in OpenCV on 99.99% of pixels, never more than 1 level off"
    assert (percent(0.99999), percent(1.0), percent(0.5)) == ("99.99%", "100%", "50%")


def test_missing_artifact_and_unreadable_outputs_are_stated_in_place(models, textures, tmp_path) -> None:
    cfg = ValidationConfig(datasets=[textures], runtimes=["opencv"], repeats=1, threads=1, bench_size=0, isolate=False, crop_size=16)
    report = validate_artifacts([models[0], tmp_path / "gone.pb"], cfg)
    # An output folder that vanished (the scratch folder of a row): the crop still renders, naming what is missing.
    from sropt.validate.prepare import prepare_set
    from sropt.validate.dataset import load_dataset

    s = prepare_set(load_dataset(textures, scale=SCALE), "matlab-bicubic", SCALE)
    report.crops = choose_crops([s], [OutputRow("ref.pb [opencv]", tmp_path / "nothing"), OutputRow("x.pb [opencv]", tmp_path / "none")], 16)
    paths = write_report(report, tmp_path / "rep")
    page, md = html_lib.unescape(paths["html"].read_text()), paths["md"].read_text()
    assert "gone.pb" in page and "no such file" in page and "file not found" in page
    assert "ref.pb [opencv]: output could not be read" in page and "x.pb [opencv]: output could not be read" in page
    assert "gone.pb" in md and "no such file" in md
    assert "<b>ref.pb</b>" in page  # the good artifact still has its summary row


def test_a_report_of_nothing_renders(tmp_path) -> None:
    from sropt.validate.results import ValidationReport

    paths = write_report(ValidationReport(environment={}, config={}, problems=["no usable artifact and no --scale given"]), tmp_path)
    page = paths["html"].read_text()
    assert "no artifact could be opened" in page and "no usable artifact and no --scale given" in page
    assert "No crops" in page
