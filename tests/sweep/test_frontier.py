"""Pareto fronts and winners on hand-checked candidates."""

from __future__ import annotations

from sropt.sweep.frontier import candidates_of, dominates, fronts_by_model_runtime, pareto_front, pick_winner, violations


def _c(point, drop, speed, size=1000, runtime="tflite", model="M", stage="quantize.tflite.int8", key=None):
    return {"point": point, "model": model, "stage": stage, "runtime": runtime, "artifact": f"{point}.tflite", "step_key": key or point,
            "size_bytes": size, "latency_ms": 10 / speed, "speed_up": speed, "psnr_y": {"Set5": 33 - drop}, "ssim_y": {},
            "psnr_drop": {"Set5": drop}, "ssim_drop": {}}


# (drop dB, speed-up) by hand:  a (0.0, 1.0)  b (0.1, 2.0)  c (0.2, 1.5)  d (0.3, 3.0)  e (0.1, 2.0) same as b  f (0.5, 2.5)
# c is dominated by b (less drop, faster); f by d (0.3 < 0.5 and 3.0 > 2.5); e ties b (neither dominates).
POINTS = [_c("a", 0.0, 1.0), _c("b", 0.1, 2.0), _c("c", 0.2, 1.5), _c("d", 0.3, 3.0), _c("e", 0.1, 2.0), _c("f", 0.5, 2.5)]


def test_dominates_needs_strictly_better_somewhere():
    assert dominates((0.1, -2.0), (0.2, -1.5))
    assert not dominates((0.1, -2.0), (0.1, -2.0))
    assert not dominates((0.0, -1.0), (0.3, -3.0))


def test_pareto_front_of_a_hand_checked_case():
    assert [c["point"] for c in pareto_front(POINTS)] == ["a", "b", "d", "e"]


def test_same_artifact_from_two_points_counts_once():
    twin = _c("g", 0.1, 2.0, key="b")  # the same cache entry measured again by another point
    assert [c["point"] for c in pareto_front(POINTS + [twin])] == ["a", "b", "d", "e"]


def test_fronts_are_per_model_and_runtime():
    other = _c("x", 0.4, 1.2, runtime="ort")
    fronts = fronts_by_model_runtime(POINTS + [other])
    assert {g: [c["point"] for c in cs] for g, cs in fronts.items()} == {"M/ort": ["x"], "M/tflite": ["a", "b", "e", "d"]}


def test_winner_obeys_the_budget():
    goal = {"maximize": "speed_up", "subject_to": [{"metric": "psnr_drop", "max": 0.2}]}
    assert pick_winner(POINTS, goal)["point"] == "b"  # d is faster but drops 0.3; b and e tie, b comes first
    goal["subject_to"][0]["max"] = 0.3
    assert pick_winner(POINTS, goal)["point"] == "d"
    goal["subject_to"][0]["max"] = 0.05
    assert pick_winner(POINTS, goal)["point"] == "a"  # the only one within 0.05 dB
    goal["subject_to"].append({"metric": "speed_up", "min": 1.2})
    assert pick_winner(POINTS, goal) is None


def test_minimize_size_with_two_bounds_and_the_source_never_wins():
    pts = [_c("s", 0.0, 1.0, size=100, stage="source"), _c("p", 0.2, 1.1, size=800), _c("q", 0.1, 0.9, size=500), _c("r", 0.25, 2.0, size=300)]
    goal = {"minimize": "size_bytes", "subject_to": [{"metric": "psnr_drop", "max": 0.22}, {"metric": "speed_up", "min": 1.0}]}
    assert pick_winner(pts, goal)["point"] == "p"  # q is smaller but slower than the source; r drops too much
    assert violations(pts[2], goal["subject_to"]) == ["speed_up 0.9 < 1"]
    assert violations(pts[3], goal["subject_to"]) == ["psnr_drop 0.25 > 0.22"]


def test_candidates_take_drop_and_speed_up_from_the_source_in_opencv():
    rows = [
        {"stage": "source", "runtime": "opencv", "artifact": "artifacts/M.pb", "dataset": "/x/Set5", "psnr_y": 33.0, "ssim_y": 0.92, "latency_ms": {"median": 40.0}, "size_bytes": 4000},
        {"stage": "source", "runtime": "ort", "artifact": "artifacts/M.pb", "dataset": "/x/Set5", "psnr_y": 33.01, "ssim_y": 0.92, "latency_ms": {"median": 20.0}, "size_bytes": 4000},
        {"stage": "quantize.onnx.int8", "runtime": "ort", "artifact": "artifacts/M.q.onnx", "dataset": "/x/Set5", "psnr_y": 32.75, "ssim_y": 0.915, "latency_ms": {"median": 16.0}, "size_bytes": 1000, "peak_rss_mb": 310.5},
        {"artifact": "bicubic", "runtime": "none", "dataset": "/x/Set5", "psnr_y": 30.0},
    ]
    cands = candidates_of("p0", "M", {"results": rows}, [{"name": "quantize.onnx.int8", "key": "k1"}])
    q = next(c for c in cands if c["stage"] == "quantize.onnx.int8")
    assert q["speed_up"] == 2.5  # 40 ms (source, OpenCV) / 16 ms, not the ORT source's 20 ms
    assert q["psnr_drop"] == {"Set5": 0.25} and q["ssim_drop"] == {"Set5": 0.005}
    assert (q["step_key"], q["artifact"], q["size_bytes"], q["peak_rss_mb"]) == ("k1", "M.q.onnx", 1000, 310.5)
    assert len(cands) == 3  # bicubic is no candidate
