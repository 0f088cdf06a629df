"""Malformed pipelines.yaml files through `sropt run` (issue 20, item 9).

Random YAML documents, the test pipeline with wrong types, unknown or
misspelt keys and deleted fields, and its text with byte edits. Every
example must end in a documented exit code with no traceback, leave no
half-written file and leave its inputs unchanged; a file that is invalid
must be refused before any stage runs. The loader is pure Python, so the
CLI runs in this process; the stages are the fast fakes of
tests/pipeline/conftest.py, and both mirrors are empty folders with the
network unreachable, so no example downloads anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, example, given
from hypothesis import strategies as st

from sropt.pipeline import steps as steps_mod
from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.harness import new_case_dir, run_and_judge, run_in_process
from tests.fuzz.mutations import apply_byte_edits, byte_edit
from tests.pipeline.conftest import PIPELINE_YAML, TINY_PNG, FakeStages

#: Keys the schema knows, so random documents hit real fields with wrong values, not only unknown keys.
SCHEMA_KEYS = ("version", "default", "defaults", "pipelines", "small", "model", "output", "prune", "ratio", "scope",
               "export", "onnx", "opset", "quantize", "tflite", "mode", "calib", "calib_count", "validate", "datasets",
               "runtimes", "repeats", "gates", "metric", "min", "max_drop", "artifacts", "baseline", "against")
#: Values of the right vocabulary in the wrong places.
SCHEMA_WORDS = ("Set5", "T91", "int8", "fp16", "onnx", "tflite", "inner", "psnr_y", "./model.pb", "FSRCNN_x3", "*", "source")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(SCHEMA_WORDS),
)
keys = st.one_of(st.sampled_from(SCHEMA_KEYS), st.text(max_size=8), st.integers(-3, 3))
yaml_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                           max_leaves=24)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indices) into a parsed YAML document."""
    out = [prefix]
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        out += _paths(v, (*prefix, k))
    return out


def _edit(doc: Any, path: tuple, how: str, value: Any) -> Any:
    """``doc`` with the node at ``path`` replaced, deleted, given an unknown key, or its key misspelt."""
    if not path:
        return value if how == "replace" else doc
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "unknown key" and isinstance(parent[last], dict):
        parent[last]["unexpected_key"] = value
    elif how == "misspell" and isinstance(parent, dict) and isinstance(last, str) and len(last) > 1:
        parent[last[:-1]] = parent.pop(last)
    return doc


@st.composite
def mutated_pipeline_documents(draw) -> str:
    """PIPELINE_YAML after 1-3 structural edits, dumped back to YAML."""
    doc = yaml.safe_load(PIPELINE_YAML)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        doc = _edit(doc, path, draw(st.sampled_from(["replace", "delete", "unknown key", "misspell"])), draw(yaml_values))
    return yaml.safe_dump(doc, allow_unicode=True)


pipeline_texts = st.one_of(
    yaml_values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
    mutated_pipeline_documents(),
    st.lists(byte_edit, min_size=1, max_size=3).map(lambda e: apply_byte_edits(PIPELINE_YAML.encode(), e).decode("utf-8", "replace")),
)


@pytest.fixture(scope="module")
def run_workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """cwd with Set5/T91, ./model.pb, fake stages, empty model and dataset mirrors, and no reachable network."""
    root = tmp_path_factory.mktemp("run-fuzz")
    for name in ("Set5", "T91"):
        (root / "datasets" / name).mkdir(parents=True)
        (root / "datasets" / name / "img.png").write_bytes(TINY_PNG)
    (root / "model.pb").write_text("fake frozen graph v1")
    (root / "mirror").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SROPT_DATASETS_DIR", str(root / "datasets"))
        mp.setenv("SROPT_MODEL_MIRROR", str(root / "mirror"))
        mp.setenv("SROPT_DATASET_MIRROR", str(root / "mirror"))
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            mp.setenv(proxy, "http://127.0.0.1:9")  # the discard port: any download attempt is refused at once
        mp.setattr(steps_mod, "ADAPTERS", FakeStages().table())
        mp.chdir(root)
        yield root


@fuzz_settings(50)
@example(text=PIPELINE_YAML, select=["-p", "small"])  # the unmutated file runs (exit 0): the setup is sound
@given(text=pipeline_texts, select=st.sampled_from([[], ["-p", "small"]]))
def test_run_malformed_pipelines_file(run_workdir: Path, text: str, select: list[str]) -> None:
    case = new_case_dir(run_workdir)
    pipelines = case / "pipelines.yaml"
    pipelines.write_text(text, encoding="utf-8")
    # --out keeps every run folder inside the case folder, whatever `output:` the document holds.
    argv = ["run", str(pipelines), *select, "--out", str(case / "run")]
    inputs = [pipelines, run_workdir / "model.pb", run_workdir / "datasets"]
    outcome, problems = run_and_judge(run_in_process, argv, inputs, [run_workdir])
    event(f"exit {outcome.code}")
    assert not problems, "\n".join(problems)
    if outcome.code == 2:
        assert not (case / "run").exists(), "refused, yet a run folder was written"
