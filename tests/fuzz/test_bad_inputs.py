"""The audit's table of bad inputs (tests/fuzz/bad_inputs.py): each ends in its documented exit code, naming the input.

Every row also passes the fuzz judge (no traceback, signal or hang, no
half-written file, every input file byte-identical). Rows run in the
session's CLI worker; `validate` rows use --no-isolate there (a crash would
show up as a signal).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.bad_inputs import BAD_INPUTS, BadInput, BadInputFiles, classifier_graph, make_bad_input_files
from tests.fuzz.harness import CliWorker, digest, judge, new_case_dir


@pytest.fixture(scope="session")
def bad_input_files(worker: CliWorker, seed_graphs: dict[str, bytes], seed_exports: dict[str, bytes],
                    tmp_path_factory: pytest.TempPathFactory) -> BadInputFiles:
    src = tmp_path_factory.mktemp("bad-input-models")
    models = {"pb": src / "m.pb", "onnx": src / "m.onnx", "tflite": src / "m.tflite", "classifier_pb": src / "c.pb"}
    models["pb"].write_bytes(seed_graphs["espcn"])  # x3, one input channel
    models["onnx"].write_bytes(seed_exports["espcn.onnx"])
    models["tflite"].write_bytes(seed_exports["espcn.tflite"])
    models["classifier_pb"].write_bytes(classifier_graph().SerializeToString())
    files = make_bad_input_files(tmp_path_factory.mktemp("bad-inputs"), models)
    report_dir = files.root / "report"
    made = worker.run(["validate", str(models["pb"]), "-d", str(files.root / "images"), "-r", "opencv", "--repeats", "1",
                       "--bench-size", "0", "--no-isolate", "-o", str(report_dir)])
    assert made.code == 0 and (report_dir / "report.json").is_file(), made.stderr
    return files


def run_bad_input(worker: CliWorker, files: BadInputFiles, row: BadInput, case: Path):
    """(outcome, problems, the fragment the error must name) of one row."""
    argv, names, env = files.argv(row, case)
    before = digest([files.root])
    outcome = worker.run(argv, env)
    return outcome, judge(outcome, before, [files.root, case]), names


@pytest.mark.parametrize("row", BAD_INPUTS, ids=[f"{r.command}: {r.what}" for r in BAD_INPUTS])
def test_bad_input_ends_in_its_documented_exit_code(row: BadInput, worker: CliWorker, bad_input_files: BadInputFiles,
                                                    tmp_path: Path) -> None:
    outcome, problems, names = run_bad_input(worker, bad_input_files, row, new_case_dir(tmp_path))
    assert not problems, "\n".join(problems)
    assert outcome.code == row.code, f"exit {outcome.code}, documented {row.code}\n{outcome.stderr}"
    assert names in " ".join(outcome.stderr.split()), outcome.stderr
