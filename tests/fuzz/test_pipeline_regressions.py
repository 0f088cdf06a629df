"""What fuzzing pipelines.yaml found, as plain tests: each was a traceback, now exit 0 or 2 with the line named."""

from __future__ import annotations

from pathlib import Path

from tests.fuzz.harness import run_in_process
from tests.pipeline.conftest import PIPELINE_YAML, fake_stages, pipeline_file, workdir  # noqa: F401 - fixtures


def test_plain_run_of_a_default_pipeline_whose_model_resolves(pipeline_file: Path, fake_stages, workdir: Path) -> None:
    # `sropt run` with no --pipeline read `pipe.validate` (pydantic's validate method, not the stage) once the
    # default's model resolved: AttributeError for every such run. Now it runs; also with no validate stage.
    outcome = run_in_process(["run", str(pipeline_file)])
    assert (outcome.code, outcome.traceback) == (0, None), outcome.stderr
    no_validate = PIPELINE_YAML.replace("defaults:\n  validate:", "x-unused:\n  validate:").split("    gates:")[0]
    pipeline_file.write_text(no_validate)
    outcome = run_in_process(["run", str(pipeline_file), "--out", str(workdir / "run2")])
    assert (outcome.code, outcome.traceback) == (0, None), outcome.stderr


def test_nul_character_is_a_config_error_with_its_line(workdir: Path) -> None:
    path = workdir / "p.yaml"
    path.write_text("version: 1\npipelines:\n  a:\n    model: x\x00\n")
    outcome = run_in_process(["run", str(path)])
    assert (outcome.code, outcome.traceback) == (2, None)
    assert f"{path}:4: not YAML text: character U+0000 is not allowed" in outcome.stderr


def test_numeric_key_and_mapping_default_are_config_errors(workdir: Path) -> None:
    path = workdir / "p.yaml"
    path.write_text("0: null\ndefault: {validate: {}}\npipelines:\n  a:\n    model: ./m.pb\n")
    outcome = run_in_process(["run", str(path)])
    assert (outcome.code, outcome.traceback) == (2, None)
    err = " ".join(outcome.stderr.split())
    assert f"{path}:1: unknown top-level key '0'" in err
    assert f"{path}:2: 'default' must name a pipeline, got a mapping" in err
