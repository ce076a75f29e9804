"""Tracking benchmark: FUSE against the seed tracker, ByteTrack and BoT-SORT on the same detections.

    python bench/track_bench.py [--quick] [--seed 0] [--seeds 5] [--scale-frames 50000] [--noisy 0.05,0.15,0.3]

Box-level synthetic scenarios with ground truth (bench/tracking_scenarios.py) go through a
simulated detector twice: clean (1% jitter) and noisy (5% jitter, 15% missed, 0.3 false positives
per frame; --noisy sets other noise, to see how a tracker holds up beyond it). Every tracker
gets the same detections. Edited footage (cuts, cut and return, whip
pans, head turns) is also drawn at 256x144 and PySceneDetect (media/shots.py, node defaults)
finds the cuts on those pixels; the detections carry the cuts found, as FUSE Face Detector's do.

Metrics: MOTA, IDF1 and ID switches from py-motmetrics (IoU >= 0.5 to count as a match);
jitter: the RMS of the second difference of box centre and size over consecutive frames, in % of
the face size (raw detections: per true face; trackers: per output id; ground truth: the true
paths' own curvature, the floor); ghosts: output boxes whose centre lies on no true face (a box
over the background), per clip; carries: an output id that follows one person up to a true cut
and another person after it; ids/person: distinct output ids matched to each true person over
the whole clip (1 = one id per person, across shots too). Cuts: precision and recall of the
detected cuts against the true ones (within one frame). Each cell is the mean over the seeds.
Time: ms per frame of each tracker (shot detection apart); memory: the peak of Python
allocations (tracemalloc) during one call. The scale run tracks scale_frames frames with a new
set of 5 people every 250 frames (a cut each time; cuts given, not detected).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections import defaultdict

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "False")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="fuse-yolo-config-"))

import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracking_peers import TRACKERS  # noqa: E402
from tracking_scenarios import CLEAN, EDITED_SCENARIOS, NOISY, SCENARIOS, Noise, cut_and_return, long_clip, many_short_tracks, render_small  # noqa: E402
from tracking_scenarios import simulate_detector  # noqa: E402

from comfyui_fuse.core.types import FaceDetections  # noqa: E402
from comfyui_fuse.media.shots import ShotDetector  # noqa: E402
from comfyui_fuse.tracking.boxes import iou_matrix, xyxy_to_cxcywh  # noqa: E402

TARGET_IDF1_GAIN = 0.08
TARGET_SWITCH_RATIO = 1 / 3
TARGET_FAST_IDF1 = 0.90
TARGET_CUT_RECALL = 0.98
TARGET_CUT_PRECISION = 0.95
TARGET_SCALE_MS = 1.0
TARGET_SCALE_MB = 300.0
EMBEDDING_SIZE = 64
SCALE_REPEATS = 3
CUT_TOLERANCE = 1  # frames
FAST_SCENARIOS = ("whip pans, jumps of 1.5-2 face sizes", "fast head turns and dropped frames")
CUT_SCENARIOS = ("hard cuts, new people in the same places", "cut and return, 3 shots", "cut and return, 3 shots (embeddings)")


def jitter_sum(series: dict[int, tuple[list[int], list[np.ndarray]]], cuts=()) -> tuple[float, int]:
    """Sum of squared second differences of (cx, cy, w, h) / size over every id's runs of three
    consecutive frames of one shot, and how many values went in."""
    total, count = 0.0, 0
    for frames, boxes in series.values():
        frames = np.asarray(frames)
        order = np.argsort(frames, kind="stable")
        frames = frames[order]
        if len(frames) < 3:
            continue
        cxcywh = xyxy_to_cxcywh(np.asarray(boxes, np.float64)[order])
        shot = np.searchsorted(np.asarray(cuts, np.int64), frames, side="right")
        consecutive = ((frames[2:] - frames[:-2]) == 2) & (shot[2:] == shot[:-2])
        second = cxcywh[2:] - 2 * cxcywh[1:-1] + cxcywh[:-2]
        size = np.sqrt(cxcywh[1:-1, 2] * cxcywh[1:-1, 3])[:, None]
        values = (second / size)[consecutive]
        total += float((values**2).sum())
        count += values.size
    return total, count


def jitter_of(series, cuts=()) -> float:
    total, count = jitter_sum(series, cuts)
    return 100.0 * np.sqrt(total / count) if count else float("nan")


def _matches(gt: np.ndarray, boxes: np.ndarray) -> list[tuple[int, int]]:
    """(output index, gt index) pairs of one frame: the best one-to-one matching with IoU >= 0.5."""
    if not len(gt) or not len(boxes):
        return []
    iou = iou_matrix(boxes, gt)
    rows, cols = linear_sum_assignment(-iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if iou[r, c] >= 0.5]


def ghosts_in(boxes: np.ndarray, gt: np.ndarray) -> int:
    """Output boxes whose centre is on no true face."""
    if not len(boxes):
        return 0
    centre = xyxy_to_cxcywh(boxes)[:, :2]
    inside = (centre[:, None, 0] >= gt[None, :, 0]) & (centre[:, None, 0] <= gt[None, :, 2]) & (centre[:, None, 1] >= gt[None, :, 1]) & (centre[:, None, 1] <= gt[None, :, 3])
    return int((~inside.any(axis=1)).sum()) if len(gt) else len(boxes)


def evaluate(truth_xyxy: np.ndarray, present: np.ndarray, output, cuts=(), people: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of one tracker's output against the truth (T,K,4) / present (T,K); people (T,K)
    gives the ground-truth id of each column per frame (None: column k is person k)."""
    import motmetrics as mm

    people_ids = np.broadcast_to(np.arange(truth_xyxy.shape[1]), present.shape) if people is None else people
    accumulator = mm.MOTAccumulator(auto_id=True)
    series: dict[int, tuple[list[int], list[np.ndarray]]] = defaultdict(lambda: ([], []))
    matched: dict[int, list[tuple[int, int]]] = defaultdict(list)  # output id -> [(frame, gt id)]
    ghosts = 0
    for frame, (ids, boxes) in enumerate(output):
        columns = np.flatnonzero(present[frame])
        gt_ids = people_ids[frame, columns]
        gt = truth_xyxy[frame, columns]
        # motmetrics' own iou_matrix uses np.asfarray, gone in NumPy 2: same distances, computed here
        distance = 1.0 - iou_matrix(gt, boxes)
        distance[distance > 0.5] = np.nan
        accumulator.update(gt_ids.tolist(), ids.tolist(), distance)
        for track_id, box in zip(ids.tolist(), boxes):
            series[track_id][0].append(frame)
            series[track_id][1].append(box)
        for out_index, gt_index in _matches(gt, boxes):
            matched[int(ids[out_index])].append((frame, int(gt_ids[gt_index])))
        ghosts += ghosts_in(boxes, gt)
    summary = mm.metrics.create().compute(accumulator, metrics=["mota", "idf1", "num_switches"], name="run")
    edges = [0, *cuts, len(output)]
    carries = 0
    for hits in matched.values():
        frames = np.array([f for f, _ in hits])
        people = np.array([g for _, g in hits])
        for previous_start, cut, next_stop in zip(edges[:-2], edges[1:-1], edges[2:]):
            before = np.flatnonzero((frames >= previous_start) & (frames < cut))
            after = np.flatnonzero((frames >= cut) & (frames < next_stop))
            carries += bool(len(before) and len(after) and people[before[-1]] != people[after[0]])
    ids_of_person: dict[int, set[int]] = defaultdict(set)
    for track_id, hits in matched.items():
        for _, person in hits:
            ids_of_person[person].add(track_id)
    seen = np.unique(people_ids[present])
    return {
        "MOTA": float(summary["mota"].iloc[0]), "IDF1": float(summary["idf1"].iloc[0]), "IDsw": float(summary["num_switches"].iloc[0]),
        "jitter": jitter_of(series, cuts), "ghosts": float(ghosts), "carries": float(carries),
        "ids/person": float(np.mean([len(ids_of_person[p]) for p in seen])) if len(seen) else float("nan"),
    }


def truth_jitter(truth_xyxy: np.ndarray, present: np.ndarray, cuts=()) -> float:
    series = {k: (np.flatnonzero(present[:, k]).tolist(), list(truth_xyxy[present[:, k], k])) for k in range(truth_xyxy.shape[1])}
    return jitter_of(series, cuts)


def raw_jitter(simulated, cuts=()) -> float:
    series: dict[int, tuple[list[int], list[np.ndarray]]] = defaultdict(lambda: ([], []))
    for frame, box, source in zip(simulated.detections.frame, simulated.detections.xyxy, simulated.source):
        if source >= 0:
            series[int(source)][0].append(int(frame))
            series[int(source)][1].append(box)
    return jitter_of(series, cuts)


def with_cuts(detections: FaceDetections, cuts: np.ndarray) -> FaceDetections:
    return FaceDetections(
        frame=detections.frame, xyxy=detections.xyxy, score=detections.score, frame_count=detections.frame_count, frame_size=detections.frame_size,
        embedding=detections.embedding, detector=detections.detector, cuts=cuts,
    )


def cut_counts(found: np.ndarray, truth: tuple[int, ...]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) within CUT_TOLERANCE frames, one to one."""
    truth_left = list(truth)
    hits = 0
    for cut in found.tolist():
        near = [t for t in truth_left if abs(t - cut) <= CUT_TOLERANCE]
        if near:
            truth_left.remove(near[0])
            hits += 1
    return hits, len(found) - hits, len(truth_left)


def peak_mb(call) -> float:
    """Peak MB of Python allocations while call() runs."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


SCENARIO_LIST = [*SCENARIOS, *EDITED_SCENARIOS, "embeddings"]


def _make(entry, rng, quick):
    if entry == "embeddings":
        return cut_and_return(rng), EMBEDDING_SIZE
    return (long_clip(rng, 500) if (quick and entry is long_clip) else entry(rng)), None


def run(seeds: list[int], quick: bool, noisy: Noise = NOISY):
    """results[(scenario, noise, tracker)] -> metric dicts (one per seed); seconds per frame;
    peak MB per tracker; cut counts per scenario; shot detection seconds per frame; names.
    noisy: the detector noise of the "noisy" columns."""
    results = defaultdict(list)
    seconds, cpu_seconds, frames_done = defaultdict(float), defaultdict(float), 0
    memory = defaultdict(float)
    cut_results = defaultdict(lambda: np.zeros(3, np.int64))
    shot_seconds, shot_frames = 0.0, 0
    scenario_names = []
    for position, entry in enumerate(SCENARIO_LIST):
        for seed in seeds:
            rng = np.random.default_rng([seed, position])
            scenario, embedding_size = _make(entry, rng, quick)
            name = scenario.name + (" (embeddings)" if embedding_size else "")
            if seed == seeds[0]:
                scenario_names.append(name)
            frames_small = render_small(scenario, seed)
            start = time.perf_counter()
            detector = ShotDetector()
            detector.feed(frames_small, 0, len(frames_small))
            cuts = detector.finish()
            shot_seconds += time.perf_counter() - start
            shot_frames += len(frames_small)
            cut_results[name] += cut_counts(cuts, scenario.cuts)
            truth_xyxy, present = scenario.truth()
            for noise in (CLEAN, noisy):
                simulated = simulate_detector(scenario, noise, np.random.default_rng([seed, position, 1 + (noise is noisy)]), embedding_size)
                detections = with_cuts(simulated.detections, cuts)
                results[(name, noise.name, "ground truth")].append({"jitter": truth_jitter(truth_xyxy, present, scenario.cuts)})
                results[(name, noise.name, "raw detections")].append({"jitter": raw_jitter(simulated, scenario.cuts)})
                frames_done += scenario.frame_count
                for tracker_name, tracker in TRACKERS.items():
                    start, cpu_start = time.perf_counter(), time.process_time()
                    output = tracker(detections)
                    seconds[tracker_name] += time.perf_counter() - start
                    cpu_seconds[tracker_name] += time.process_time() - cpu_start
                    results[(name, noise.name, tracker_name)].append(evaluate(truth_xyxy, present, output, scenario.cuts))
                    if seed == seeds[0] and noise is noisy:
                        memory[tracker_name] = max(memory[tracker_name], peak_mb(lambda: tracker(detections)))
    per_frame = {name: (seconds[name] / frames_done, cpu_seconds[name] / frames_done) for name in TRACKERS}
    return results, per_frame, dict(memory), dict(cut_results), shot_seconds / max(shot_frames, 1), scenario_names


def scale_child(name: str, frames: int) -> dict[str, float]:
    """One tracker on the many-short-tracks clip (noisy detections, true cuts given), in this
    (fresh) process: times are the best of SCALE_REPEATS runs for FUSE (the machine may be
    shared); memory is the process's peak resident set (interpreter, libraries, the clip and the
    tracking; ultralytics brings torch) and, for FUSE, the peak of the allocations made while
    tracking (tracemalloc, numpy included)."""
    scenario = many_short_tracks(frames)
    simulated = simulate_detector(scenario, NOISY, np.random.default_rng([0, 99]))
    detections = with_cuts(simulated.detections, np.array(scenario.cuts, np.int64))
    truth_xyxy, present = scenario.truth()
    tracker = TRACKERS[name]
    tracker(FaceDetections.empty(10, detections.frame_size))  # imports and first-call set-up are not tracking
    elapsed = cpu = np.inf
    for _ in range(SCALE_REPEATS if name == "FUSE" else 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        output = tracker(detections)
        elapsed, cpu = min(elapsed, time.perf_counter() - start), min(cpu, time.process_time() - cpu_start)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"ms/frame": 1000 * elapsed / frames, "cpu ms/frame": 1000 * cpu / frames, "rss MB": peak_rss, "detections": len(detections), "tracks": int(scenario.person_ids().max()) + 1}
    if name == "FUSE":
        result["peak MB"] = peak_mb(lambda: tracker(detections))
    return {**result, **evaluate(truth_xyxy, present, output, scenario.cuts, scenario.people)}


def run_scale(frames: int, trackers: list[str]) -> dict[str, dict[str, float]]:
    """Every tracker on the scale clip, each in a process of its own (see scale_child)."""
    import json
    import subprocess

    out = {}
    for name in trackers:
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--scale-child", name, "--scale-frames", str(frames)], capture_output=True, text=True, check=True)
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def mean_metrics(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}


def format_cell(metrics: dict[str, float] | None, key: str) -> str:
    if metrics is None or key not in metrics or not np.isfinite(metrics[key]):
        return "-"
    value = metrics[key]
    if key in ("IDsw", "ghosts", "carries"):
        return f"{value:.1f}"
    return f"{value:.2f}" if key in ("jitter", "ids/person") else f"{value:.3f}"


CLEAN_KEYS = ("MOTA", "IDF1", "IDsw", "jitter", "ghosts")
NOISY_KEYS = ("MOTA", "IDF1", "IDsw", "jitter", "ghosts", "carries", "ids/person")


def table(results, scenario_names: list[str], names: list[str] | None = None) -> tuple[str, dict]:
    trackers = ["ground truth", "raw detections", *TRACKERS]
    lines = [
        "| scenario | tracker | " + " | ".join(f"clean {k}" for k in CLEAN_KEYS) + " | " + " | ".join(f"noisy {k}" for k in NOISY_KEYS) + " |",
        "|" + "---|" * (2 + len(CLEAN_KEYS) + len(NOISY_KEYS)),
    ]
    overall = {}
    for scenario in [*(names or scenario_names), "mean of scenarios"]:
        for tracker in trackers:
            cells = []
            for noise, keys in (("clean", CLEAN_KEYS), ("noisy", NOISY_KEYS)):
                if scenario == "mean of scenarios":
                    metrics = mean_metrics([mean_metrics(results[(s, noise, tracker)]) for s in (names or scenario_names)])
                    overall[(noise, tracker)] = metrics
                else:
                    metrics = mean_metrics(results[(scenario, noise, tracker)])
                cells += [format_cell(metrics, key) for key in keys]
            name = f"**{tracker}**" if tracker == "FUSE" else tracker
            lines.append(f"| {scenario} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines), overall


def cut_table(cut_results: dict, scenario_names: list[str]) -> tuple[str, dict]:
    lines = ["| scenario | true cuts | found | right | false | missed | precision | recall |", "|---|---|---|---|---|---|---|---|"]
    totals = {"cut scenarios": np.zeros(3, np.int64), "all scenarios": np.zeros(3, np.int64)}
    for name in scenario_names:
        tp, fp, fn = cut_results[name]
        totals["all scenarios"] += cut_results[name]
        if name in CUT_SCENARIOS:
            totals["cut scenarios"] += cut_results[name]
        lines.append(cut_row(name, tp, fp, fn))
    for name, (tp, fp, fn) in totals.items():
        lines.append(cut_row(f"**{name}**", tp, fp, fn))
    return "\n".join(lines), totals


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 1.0


def cut_row(name: str, tp: int, fp: int, fn: int) -> str:
    return f"| {name} | {tp + fn} | {tp + fp} | {tp} | {fp} | {fn} | {_ratio(tp, tp + fp):.3f} | {_ratio(tp, tp + fn):.3f} |"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def noise_from_text(text: str) -> Noise:
    """--noisy "JITTER,MISS,FP" -> the noisy columns' Noise."""
    try:
        jitter, miss, false_positives = (float(value) for value in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three numbers JITTER,MISS,FP such as 0.05,0.15,0.3, but got {text!r}") from None
    if not (0 <= jitter and 0 <= miss < 1 and 0 <= false_positives):
        raise argparse.ArgumentTypeError(f"jitter and false positives must be >= 0 and the miss rate in [0, 1), but got {text!r}")
    return Noise("noisy", centre_jitter=jitter, size_jitter=jitter, miss_rate=miss, false_positives=false_positives)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, a 500-frame long clip and a 5,000-frame scale run")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 5, --quick 2)")
    parser.add_argument("--scale-frames", type=int, default=None, help="frames of the scale run (default 50000, --quick 5000; 0 = skip)")
    parser.add_argument("--scale-peers", action="store_true", help="run the peers on the scale clip too (minutes)")
    parser.add_argument("--scale-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--noisy", type=noise_from_text, default=NOISY, metavar="JITTER,MISS,FP",
                        help="the noisy columns' detector: centre and size jitter (fraction of the face size), miss rate, false positives per frame (default 0.05,0.15,0.3)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.scale_child:
        import json

        print(json.dumps(scale_child(args.scale_child, args.scale_frames)))
        return
    count = args.seeds or (2 if args.quick else 5)
    seeds = list(range(args.seed, args.seed + count))
    noisy = args.noisy
    results, per_frame, memory, cut_results, shot_per_frame, scenario_names = run(seeds, args.quick, noisy)
    old_names = scenario_names[: len(SCENARIOS)]
    edited_names = scenario_names[len(SCENARIOS) :]
    print(f"Tracking benchmark, seeds {seeds[0]}..{seeds[-1]} (mean over {count}); noisy = {noisy}; jitter in % of face size; ghosts and carries per clip\n")
    text, overall = table(results, scenario_names, old_names)
    print("### Scenarios without cuts\n")
    print(text)
    edited_text, _ = table(results, scenario_names, edited_names)
    print("\n### Edited footage\n")
    print(edited_text)
    cuts_text, cut_totals = cut_table(cut_results, scenario_names)
    print("\n### Shot boundaries (PySceneDetect on the 256x144 frames, node defaults)\n")
    print(cuts_text)
    print()
    print("time per frame (wall / CPU): " + ", ".join(f"{name} {1000 * wall:.2f} / {1000 * cpu:.2f} ms" for name, (wall, cpu) in per_frame.items()) + f"; shot detection {1000 * shot_per_frame:.2f} ms at 256x144")
    print("peak memory of one call (largest scenario): " + ", ".join(f"{name} {value:.1f} MB" for name, value in memory.items()))
    scale_frames = args.scale_frames if args.scale_frames is not None else (5000 if args.quick else 50_000)
    scale = None
    if scale_frames:
        scale = run_scale(scale_frames, ["FUSE", "ByteTrack", "BoT-SORT"] if args.scale_peers else ["FUSE"])
        info = scale["FUSE"]
        print(f"\n### Scale: {scale_frames} frames, {info['tracks']} short tracks ({info['detections']} noisy detections, a cut every 250 frames)\n")
        print("| tracker | IDF1 | IDsw | carries | ms/frame (wall) | ms/frame (CPU) | process peak RSS MB | tracking allocations peak MB |\n|---|---|---|---|---|---|---|---|")
        for name, values in scale.items():
            peak = f"{values['peak MB']:.1f}" if "peak MB" in values else "-"
            print(f"| {name} | {values['IDF1']:.3f} | {values['IDsw']:.0f} | {values['carries']:.0f} | {values['ms/frame']:.3f} | {values['cpu ms/frame']:.3f} | {values['rss MB']:.0f} | {peak} |")
    print(f"\nprocess peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    fuse, byte, raw = overall[("noisy", "FUSE")], overall[("noisy", "ByteTrack")], overall[("noisy", "raw detections")]
    gain = fuse["IDF1"] - byte["IDF1"]
    ratio = fuse["IDsw"] / byte["IDsw"] if byte["IDsw"] else float("inf")
    print(
        f"\ntargets (noisy, mean of scenarios without cuts): IDF1 FUSE {fuse['IDF1']:.3f} vs ByteTrack {byte['IDF1']:.3f}: "
        f"{gain:+.3f} (>= +{TARGET_IDF1_GAIN}: {verdict(gain >= TARGET_IDF1_GAIN)}); "
        f"ID switches {fuse['IDsw']:.2f} vs {byte['IDsw']:.2f}: ratio {ratio:.2f} (<= 0.33: {verdict(ratio <= TARGET_SWITCH_RATIO)}); "
        f"jitter {fuse['jitter']:.2f} vs raw {raw['jitter']:.2f} ({verdict(fuse['jitter'] < raw['jitter'])})"
    )
    for name in FAST_SCENARIOS:
        for noise in ("clean", "noisy"):
            metrics = mean_metrics(results[(name, noise, "FUSE")])
            ok = metrics["IDF1"] >= TARGET_FAST_IDF1 and metrics["ghosts"] == 0
            print(f"target {name}, {noise}: FUSE IDF1 {metrics['IDF1']:.3f} (>= {TARGET_FAST_IDF1}), ghosts {metrics['ghosts']:.1f} (0): {verdict(ok)}")
    carries = sum(mean_metrics(results[(name, noise, "FUSE")])["carries"] for name in CUT_SCENARIOS for noise in ("clean", "noisy"))
    tp, fp, fn = cut_totals["cut scenarios"]
    print(f"target cuts: FUSE cross-cut id carries {carries:.1f} (0): {verdict(carries == 0)}; recall {_ratio(tp, tp + fn):.3f} (>= {TARGET_CUT_RECALL}): {verdict(_ratio(tp, tp + fn) >= TARGET_CUT_RECALL)}; precision {_ratio(tp, tp + fp):.3f} (>= {TARGET_CUT_PRECISION}): {verdict(_ratio(tp, tp + fp) >= TARGET_CUT_PRECISION)}")
    for noise in ("clean", "noisy"):
        per_person = mean_metrics(results[("cut and return, 3 shots (embeddings)", noise, "FUSE")])["ids/person"]
        print(f"target cut and return with embeddings, {noise}: FUSE ids per person {per_person:.2f} (1): {verdict(per_person == 1.0)}")
    if scale is not None:
        values = scale["FUSE"]
        print(
            f"target scale ({scale_frames} frames): FUSE {values['ms/frame']:.3f} ms/frame wall, {values['cpu ms/frame']:.3f} CPU (< {TARGET_SCALE_MS}: "
            f"{verdict(values['ms/frame'] < TARGET_SCALE_MS)} wall, {verdict(values['cpu ms/frame'] < TARGET_SCALE_MS)} CPU), peak {values['peak MB']:.1f} MB (< {TARGET_SCALE_MB}: {verdict(values['peak MB'] < TARGET_SCALE_MB)})"
        )


if __name__ == "__main__":
    main()
