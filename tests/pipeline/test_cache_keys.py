"""Stage cache keys carry the versions of the libraries behind each step (issue 14, item 5)."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

from sropt.pipeline import step_environment as env_mod
from sropt.pipeline.cache import StageCache, step_key
from sropt.pipeline.config import load_pipelines
from sropt.pipeline.runner import run_pipeline

ALL = ["source", "prune", "export.onnx", "quantize.tflite.int8", "quantize.onnx.int8", "validate"]


def _pretend_installed(monkeypatch, **versions: str) -> None:
    """Make importlib.metadata report ``versions`` (dist name with _ for -) for those distributions."""
    real = env_mod.installed_version
    wanted = {name.replace("_", "-"): v for name, v in versions.items()}
    monkeypatch.setattr(env_mod, "installed_version", lambda dist: wanted.get(dist) or real(dist))


def test_versions_come_from_distribution_metadata():
    libs = env_mod.step_environment("quantize.onnx")["libraries"]
    assert libs == {"onnxruntime": metadata.version("onnxruntime"), "onnx": metadata.version("onnx"),
                    "numpy": metadata.version("numpy")}
    assert "machine" not in env_mod.step_environment("prune")


def test_machine_keys_validate_and_ort_quantization_only(monkeypatch):
    def keys() -> dict[str, str]:
        return {k: step_key(k, {}, [], environment=env_mod.step_environment(k)) for k in env_mod.STEP_LIBRARIES}

    before = keys()
    vnni = {**env_mod.machine(), "isa": ["avx2", "avx512_vnni"]}
    monkeypatch.setattr(env_mod, "machine", lambda: vnni)
    after = keys()
    assert sorted(k for k in before if before[k] != after[k]) == ["quantize.onnx", "validate"]
    # Only validate measures time, so only its key follows the core count.
    monkeypatch.setattr(env_mod, "machine", lambda: {**vnni, "cores": 64})
    assert sorted(k for k, v in keys().items() if v != after[k]) == ["validate"]


def test_validate_environment_records_the_cpu_it_measures_latency_on():
    import os

    env = env_mod.step_environment("validate")
    assert set(env["libraries"]) == {"opencv-contrib-python-headless", "onnxruntime", "ai-edge-litert", "tensorflow", "numpy"}
    assert env["machine"]["cores"] == os.cpu_count()
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        text = fh.read()
    if "avx2" in text.split():
        assert "avx2" in env["machine"]["isa"]


def test_cpuinfo_keeps_simd_extensions_only():
    x86 = ("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse sse2 smep avx2 fma hypervisor avx512_vnni\n"
           "bugs\t\t: sysret_ss_attrs\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse avx2\n")
    assert env_mod.parse_cpuinfo(x86) == ("AMD EPYC 7B13", ["avx2", "avx512_vnni", "fma", "sse", "sse2"])
    arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp sve i8mm bf16 sme\nCPU part\t: 0xd0c\n"
    assert env_mod.parse_cpuinfo(arm) == ("", ["asimd", "asimddp", "bf16", "i8mm", "sme", "sve"])


def test_opencv_is_recorded_under_the_distribution_that_provides_it(monkeypatch):
    real = env_mod.installed_version
    monkeypatch.setattr(env_mod, "installed_version",
                        lambda d: "4.9.0.80" if d == "opencv-python" else None if d.startswith("opencv") else real(d))
    assert env_mod.library_versions(("opencv",)) == {"opencv-python": "4.9.0.80"}
    monkeypatch.setattr(env_mod, "installed_version", lambda d: None)
    assert env_mod.library_versions(("opencv",)) == {"opencv-contrib-python-headless": None}


@pytest.mark.parametrize(("kind", "dist", "changes"), [
    ("prune", "tensorflow", True), ("prune", "onnxruntime", False),
    ("export.onnx", "tf2onnx", True), ("export.onnx", "ai-edge-litert", False),
    ("quantize.tflite", "ai-edge-litert", True), ("quantize.tflite", "onnxruntime", False),
    ("quantize.onnx", "onnxruntime", True), ("quantize.onnx", "tensorflow", False),
    ("validate", "opencv-contrib-python-headless", True), ("validate", "tf2onnx", False),
])
def test_key_changes_with_exactly_the_libraries_of_the_step(monkeypatch, kind, dist, changes):
    def key() -> str:
        return step_key(kind, {"mode": "int8"}, [], environment=env_mod.step_environment(kind))

    before = key()
    assert key() == before  # deterministic
    _pretend_installed(monkeypatch, **{dist.replace("-", "_"): "999.0"})
    assert (key() != before) is changes


def test_upgrade_reruns_affected_steps_and_records_versions(pipeline_file, fake_stages, monkeypatch):
    first = run_pipeline(load_pipelines(pipeline_file), "small")
    assert [s.status for s in first.steps] == ["ran"] * 6
    fake_stages.calls.clear()
    assert [s.status for s in run_pipeline(load_pipelines(pipeline_file), "small").steps] == ["cached"] * 6

    # A new onnxruntime changes the ORT quantization and the validation (it measures in ORT), nothing upstream.
    _pretend_installed(monkeypatch, onnxruntime="99.1.0")
    fake_stages.calls.clear()
    third = run_pipeline(load_pipelines(pipeline_file), "small")
    status = {s.name: s.status for s in third.steps}
    assert status == {"source": "cached", "prune": "cached", "export.onnx": "cached",
                      "quantize.tflite.int8": "cached", "quantize.onnx.int8": "ran", "validate": "ran"}
    assert fake_stages.calls == ["quantize.onnx.int8", "validate"]
    manifest = json.loads((StageCache().entry_path(third.steps[4].key) / "manifest.json").read_text())
    assert manifest["key_inputs"]["environment"]["libraries"]["onnxruntime"] == "99.1.0"
    assert StageCache().lookup(third.steps[5].key).environment["machine"]["cores"] is not None


def test_cache_hit_touches_the_entry_so_age_means_last_use(pipeline_file, fake_stages):
    import os

    first = run_pipeline(load_pipelines(pipeline_file), "small")
    entry = StageCache().entry_path(first.steps[1].key)
    os.utime(entry, (1_000_000, 1_000_000))
    run_pipeline(load_pipelines(pipeline_file), "small")
    assert entry.stat().st_mtime > 1_000_000 + 365 * 86400
