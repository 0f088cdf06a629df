"""Fuzzed model files through `sropt inspect`, `prune`, `export` and `validate` (issue 20, item 9).

Every example must end in a documented exit code with no traceback, signal
or hang, leave no half-written file and leave its input byte-identical
(tests/fuzz/harness.py). The commands run in one spawned worker
(``CliWorker``), so a crash in native code fails the example instead of
killing pytest. ``validate`` runs with --no-isolate there: a crash it would
contain in its own spawned runtime process shows up here as a signal, so
the structural checks that should refuse the graph first are what is tested.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from tests.fuzz.conftest import fuzz_settings
from tests.fuzz.harness import CliWorker, new_case_dir, run_and_judge
from tests.fuzz.mutations import apply_byte_edits, byte_edit, mutated_graphs, random_files


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _run(worker: CliWorker, argv: list[str], inputs: list[Path], watched: list[Path]):
    """Run and judge one example; ``--hypothesis-show-statistics`` shows how the exit codes spread."""
    outcome, problems = run_and_judge(worker.run, argv, inputs, watched)
    event(f"exit {outcome.code}")
    return outcome, problems


def _assert_output(code: int | None, out: Path, problems: list[str]) -> None:
    """A success wrote its output; a refusal or failure wrote nothing at that path."""
    assert not problems, "\n".join(problems)
    if code == 0:
        assert out.is_file() and out.stat().st_size > 0, f"exit 0 but {out} is missing or empty"
    else:
        assert not out.exists(), f"exit {code} but {out} was written"


@fuzz_settings(50)
@given(data=random_files(), suffix=st.sampled_from([".pb", ".onnx", ".tflite"]))
def test_inspect_random_bytes(worker: CliWorker, sandbox: Path, data: bytes, suffix: str) -> None:
    case = new_case_dir(sandbox)
    model = _write(case, f"m{suffix}", data)
    outcome, problems = _run(worker, ["inspect", str(model), "--json"], [model], [case])
    assert not problems, "\n".join(problems)
    assert outcome.code == 2, outcome.stderr  # random bytes are never a model


@fuzz_settings(50)
@given(data=st.data())
def test_inspect_mutated_graphs(worker: CliWorker, sandbox: Path, seed_graphs: dict[str, bytes], data) -> None:
    _, mutated = data.draw(mutated_graphs(seed_graphs))
    case = new_case_dir(sandbox)
    model = _write(case, "m.pb", mutated)
    _, problems = _run(worker, ["inspect", str(model), "--json"], [model], [case])
    assert not problems, "\n".join(problems)


@fuzz_settings(50)
@given(data=st.data())
def test_inspect_mutated_exports(worker: CliWorker, sandbox: Path, seed_exports: dict[str, bytes], data) -> None:
    name = data.draw(st.sampled_from(sorted(seed_exports)))
    edits = data.draw(st.lists(byte_edit, min_size=1, max_size=4))
    case = new_case_dir(sandbox)
    model = _write(case, name, apply_byte_edits(seed_exports[name], edits))
    _, problems = _run(worker, ["inspect", str(model), "--json"], [model], [case])
    assert not problems, "\n".join(problems)


@fuzz_settings(50)
@given(data=st.data(), ratio=st.one_of(st.sampled_from(["0.25", "0.5", "0.9"]), st.sampled_from(["0", "1", "-1", "nan"])),
       scope=st.sampled_from(["inner", "trunk", "all"]), round_to=st.sampled_from(["1", "8", "0"]))
def test_prune_mutated_graphs(worker: CliWorker, sandbox: Path, seed_graphs: dict[str, bytes], data,
                              ratio: str, scope: str, round_to: str) -> None:
    _, mutated = data.draw(mutated_graphs(seed_graphs))
    case = new_case_dir(sandbox)
    model = _write(case, "m.pb", mutated)
    out = case / "out" / "p.pb"
    argv = ["prune", str(model), "--ratio", ratio, "--scope", scope, "--round-to", round_to,
            "--no-bias-compensation", "-o", str(out)]
    outcome, problems = _run(worker, argv, [model], [case])
    _assert_output(outcome.code, out, problems)


@fuzz_settings(50)
@given(data=st.data(), to=st.sampled_from(["onnx", "tflite"]))
def test_export_mutated_graphs(worker: CliWorker, sandbox: Path, seed_graphs: dict[str, bytes], data, to: str) -> None:
    _, mutated = data.draw(mutated_graphs(seed_graphs))
    case = new_case_dir(sandbox)
    model = _write(case, "m.pb", mutated)
    out = case / "out" / f"x.{to}"
    outcome, problems = _run(worker, ["export", str(model), "--to", to, "-o", str(out)], [model], [case])
    _assert_output(outcome.code, out, problems)


@fuzz_settings(50)
@given(data=st.data(), runtimes=st.sampled_from(["opencv", "tf", "opencv,tf"]))
def test_validate_mutated_graphs(worker: CliWorker, sandbox: Path, seed_graphs: dict[str, bytes], image_set: Path,
                                 data, runtimes: str) -> None:
    _, mutated = data.draw(mutated_graphs(seed_graphs))
    case = new_case_dir(sandbox)
    model = _write(case, "m.pb", mutated)
    argv = ["validate", str(model), "-d", str(image_set), "-r", runtimes, "--repeats", "1", "--bench-size", "0",
            "--no-isolate", "-o", str(case / "report")]
    _, problems = _run(worker, argv, [model, image_set], [case, image_set])
    assert not problems, "\n".join(problems)


@fuzz_settings(50)
@given(data=st.data())
def test_validate_mutated_exports(worker: CliWorker, sandbox: Path, seed_exports: dict[str, bytes], image_set: Path,
                                  data) -> None:
    name = data.draw(st.sampled_from(sorted(seed_exports)))
    edits = data.draw(st.lists(byte_edit, min_size=1, max_size=4))
    case = new_case_dir(sandbox)
    model = _write(case, name, apply_byte_edits(seed_exports[name], edits))
    argv = ["validate", str(model), "-d", str(image_set), "--repeats", "1", "--bench-size", "0",
            "--no-isolate", "-o", str(case / "report")]
    _, problems = _run(worker, argv, [model, image_set], [case, image_set])
    assert not problems, "\n".join(problems)
