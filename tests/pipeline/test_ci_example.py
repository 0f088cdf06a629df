"""docs/ci-example.yml works: its `sropt` commands, run as written, catch a planted regression (slow).

The workflow's hosting-specific parts (`uses:` actions, the lines writing
to $GITHUB_STEP_SUMMARY) are left out; every other command of every `run:`
step is executed in a scratch checkout with the workflow's environment. The
job fails when the run or check step fails, as its last step says.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from sropt.core.locations import PROJECT_ROOT

pytestmark = [pytest.mark.slow]

WORKFLOW = PROJECT_ROOT / "docs" / "ci-example.yml"
PIPELINE = "edsr_x3_ci"


def _job() -> dict:
    (job,) = yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
    return job


def _sropt_commands(job: dict) -> list[tuple[str, list[str]]]:
    """(step id, argv) for every `sropt ...` command of the job's run: steps, backslash continuations joined."""
    out = []
    for step in job["steps"]:
        script = step.get("run", "")
        for line in re.sub(r"\\\n\s*", " ", script).splitlines():
            if line.strip().startswith("sropt "):
                out.append((step.get("id", step.get("name", "")), line.split()[1:]))
    return out


def _checkout(dest: Path) -> Path:
    """What actions/checkout gives the job: the pipelines file, the baselines and the bundled files."""
    dest.mkdir()
    shutil.copy(PROJECT_ROOT / "pipelines.yaml", dest / "pipelines.yaml")
    shutil.copytree(PROJECT_ROOT / "baselines", dest / "baselines")
    (dest / "models").symlink_to(PROJECT_ROOT / "models", target_is_directory=True)
    return dest


def _run_job(workspace: Path, job: dict) -> dict[str, int]:
    """Run the job's sropt commands in ``workspace``; exit code per step id."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for var in ("SROPT_MODEL_MIRROR", "SROPT_DATASETS_DIR"):
        env.pop(var, None)
    for name, value in job.get("env", {}).items():
        env[name] = str(value).replace("${{ github.workspace }}", str(workspace))
    codes = {}
    for step, argv in _sropt_commands(job):
        done = subprocess.run(
            [sys.executable, "-m", "sropt", *argv], cwd=workspace, env=env, capture_output=True, text=True, timeout=900,
        )
        assert done.returncode in (0, 1), f"{step}: {argv} exited {done.returncode}\n{done.stderr[-3000:]}"
        codes[step] = done.returncode
    return codes


def _job_failed(codes: dict[str, int]) -> bool:
    # The workflow's last step: exit 1 when steps.run or steps.check failed.
    return codes.get("run", 0) != 0 or codes.get("check", 0) != 0


def _failing_cases(junit: Path) -> list[str]:
    root = ET.parse(junit).getroot()
    return [tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None or tc.find("error") is not None]


def test_workflow_runs_the_ci_pipeline_against_the_shipped_baseline() -> None:
    job = _job()
    commands = _sropt_commands(job)
    assert [step for step, _ in commands] == ["run", "check"]
    assert commands[0][1][:4] == ["run", "pipelines.yaml", "--pipeline", PIPELINE]
    baseline_arg = commands[1][1][commands[1][1].index("--baseline") + 1]
    assert (PROJECT_ROOT / baseline_arg).is_file(), f"the workflow gates against {baseline_arg}, which is not shipped"
    # No cache is read that the job does not fill: the only cache is the stage
    # cache, which actions/cache restores and saves.
    caches = [s for s in job["steps"] if s.get("uses", "").startswith("actions/cache")]
    assert [s["uses"] for s in caches] == ["actions/cache@v4"]
    assert caches[0]["with"]["path"] in job["env"]["SROPT_CACHE_DIR"]


def test_unchanged_run_passes_and_planted_regression_fails(tmp_path: Path) -> None:
    job = _job()
    workspace = _checkout(tmp_path / "ws")
    codes = _run_job(workspace, job)
    assert not _job_failed(codes), codes
    assert _failing_cases(workspace / "runs/ci/gates-baseline.xml") == []

    # A baseline from a better run: the TFLite INT8 artifact 0.3 dB better than
    # this run. The job must fail, and the JUnit file name that gate and row.
    base_path = workspace / "baselines" / f"{PIPELINE}.json"
    base = json.loads(base_path.read_text())
    (row,) = [r for r in base["rows"] if r["stage"] == "quantize.tflite.int8"]
    row["psnr_y"] = round(row["psnr_y"] + 0.3, 3)
    base_path.write_text(json.dumps(base))
    codes = _run_job(workspace, job)
    assert _job_failed(codes) and codes["check"] == 1, codes
    assert _failing_cases(workspace / "runs/ci/gates-baseline.xml") == [
        "psnr_y max_drop 0.1 vs baseline [quantize.tflite.int8 / tflite / Set5]"
    ]
    summary = (workspace / "runs/ci/gates-baseline.md").read_text()
    assert "FAILED" in summary and "drop +0.300" in summary
