"""validate.workers: row processes started ahead with their runtime imported, handed out only once all are warm."""

from __future__ import annotations

import pytest

from sropt.validate.workers import WorkerPools, new_pool

IMPORTED = "'cv2' in __import__('sys').modules"  # evaluated in the worker (eval travels by name)


def test_a_warmed_worker_has_its_runtime_imported_before_any_task_and_a_new_one_has_not():
    pools = WorkerPools(["opencv"])
    try:
        with pools.take("opencv") as warmed:
            assert warmed.submit(eval, IMPORTED).result(timeout=120) is True
        with pools.take("opencv") as fresh:  # none left for opencv: a new process, nothing imported ahead
            assert fresh.submit(eval, IMPORTED).result(timeout=120) is False
    finally:
        pools.close()
    with new_pool() as plain:
        assert plain.submit(eval, IMPORTED).result(timeout=120) is False


def test_take_waits_for_every_warm_up_before_handing_out_the_first_process():
    # No group may start timing while another worker still imports its runtime.
    pools = WorkerPools(["opencv", "ort"])
    try:
        with pools.take("opencv"):
            assert all(f.done() for _, _, f in pools._warm)
    finally:
        pools.close()
    assert pools._warm == []


@pytest.mark.parametrize("runtime", ["opencv", "ort", "tflite", "tf"])
def test_every_builtin_runner_names_modules_that_exist(runtime):
    import importlib.util

    from sropt.validate.runners import get_runner

    modules = get_runner(runtime).runtime_modules
    assert modules and all(importlib.util.find_spec(m.split(".")[0]) is not None for m in modules)


def test_close_ends_an_unused_warm_up_and_leaves_no_process():
    pools = WorkerPools(["tf"])  # importing TensorFlow takes seconds: close() ends it instead of waiting
    _, pool, warm_up = pools._warm[0]
    processes = list(pool._processes.values())
    pools.close()
    assert processes and not any(p.is_alive() for p in processes)  # this pool's worker, not other tests' children
    # Ended, not finished: the import never completed (a finished warm-up returns None without error).
    assert warm_up.cancelled() or warm_up.exception() is not None
