"""How many images must a person label? Suggestions (uncertainty first) against random order.

A pile is mixed from ../shared/datasets with known answers:
  A (paintings): monet2photo trainA + testA, vangogh2photo testA, ukiyoe2photo crops A
  B (photos):    monet2photo trainB, vangogh2photo testB, ukiyoe2photo crops B
  neither:       apple2orange, horse2zebra (train and test), 50 cat2dog cats
plus a few broken files. `cyclegan curate init` scans it (duplicates are dropped),
features are computed once, then a simulated labeler who always answers the
truth labels batches of 10:

- suggestions: after the first 20 random labels, the 10 images the classifier
  is least sure of come next (what the labeling page does after `suggest`);
- random: the next 10 at random (a labeling service's order).

After each batch the export would hold the people's labels plus the
classifier's prediction for every other image (`export --accept-suggestions 0`);
its accuracy against the truth is recorded. The numbers printed: labels needed
to reach 95%, 98% and 99% export accuracy, by strategy (mean over 3 seeds).

Usage: python benchmarks/curate_suggestions.py [--out bench_out/curate]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from cyclegan.curate.scan import scan
from cyclegan.curate.store import Project
from cyclegan.curate.suggest import _features, compute_features, fit_and_predict

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"
SOURCES = {
    "A": [
        "monet2photo/trainA",
        "monet2photo/testA",
        "vangogh2photo/testA",
        "ukiyoe2photo/extra_train_crops_A",
    ],
    "B": ["monet2photo/trainB", "vangogh2photo/testB", "ukiyoe2photo/extra_train_crops_B"],
    "neither": [
        "apple2orange/trainA",
        "apple2orange/trainB",
        "apple2orange/testA",
        "apple2orange/testB",
        "horse2zebra/trainA",
        "horse2zebra/trainB",
        "horse2zebra/testA",
        "horse2zebra/testB",
    ],
}
TARGETS = (0.95, 0.98, 0.99)
BATCH, START = 10, 20


def build_pile(root: Path) -> dict[str, str]:
    """Copy the sources into one pile; returns relative path -> true answer."""
    truth = {}
    for answer, folders in SOURCES.items():
        for folder in folders:
            for f in sorted((DATA / folder).iterdir()):
                rel = f"{folder.replace('/', '_')}_{f.name}"
                shutil.copy(f, root / rel)
                truth[rel] = answer
    for f in sorted((DATA / "cat2dog_afhq/trainA").iterdir())[:50]:
        shutil.copy(f, root / f"cat_{f.name}")
        truth[f"cat_{f.name}"] = "neither"
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    (root / "empty.png").write_bytes(b"")
    return truth


def simulate(
    features: dict[int, np.ndarray], truth: dict[int, str], strategy: str, seed: int
) -> list[tuple[int, float]]:
    rng = np.random.default_rng(seed)
    ids = np.array(sorted(features))
    labeled = {int(i): truth[int(i)] for i in rng.choice(ids, START, replace=False)}
    curve = []
    while len(labeled) < len(ids):
        try:
            _, predictions = fit_and_predict(features, labeled, seed)
        except Exception:  # too few classes yet: label more at random
            predictions = {}
        exported = {**{i: c for i, (c, _) in predictions.items()}, **labeled}
        accuracy = np.mean([exported.get(int(i)) == truth[int(i)] for i in ids])
        curve.append((len(labeled), float(accuracy)))
        if accuracy >= max(TARGETS) and len(curve) > 1 and curve[-2][1] >= max(TARGETS):
            break
        rest = [i for i in map(int, ids) if i not in labeled]
        if strategy == "suggestions" and predictions:
            rest.sort(key=lambda i: predictions[i][1])  # least confident first
            chosen = rest[:BATCH]
        else:
            chosen = list(rng.choice(rest, min(BATCH, len(rest)), replace=False))
        labeled.update({int(i): truth[int(i)] for i in chosen})
    return curve


def labels_needed(curve, target):
    return next((n for n, acc in curve if acc >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench_out" / "curate")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    pile = args.out / "pile"
    pile.mkdir(parents=True)
    truth_by_path = build_pile(pile)
    project = Project.create(args.out / "project", pile, calibration_size=0, min_size=64)
    result = scan(project)
    print(
        f"pile: {len(truth_by_path) + 2} files; {result.ok} usable, {result.duplicates} "
        f"duplicates, {result.rejected} rejected",
        flush=True,
    )
    compute_features(project)
    features = _features(project)
    with project.connect() as db:
        paths = {r["id"]: r["path"] for r in db.execute("SELECT id, path FROM images")}
    truth = {i: truth_by_path[paths[i]] for i in features}
    counts = {k: sum(v == k for v in truth.values()) for k in SOURCES}
    print(f"usable by truth: {counts}", flush=True)

    report = {"usable": len(truth), "by_class": counts, "targets": TARGETS, "strategies": {}}
    for strategy in ("suggestions", "random"):
        needed = {t: [] for t in TARGETS}
        for seed in range(args.seeds):
            curve = simulate(features, truth, strategy, seed)
            for t in TARGETS:
                needed[t].append(labels_needed(curve, t))
            print(
                f"{strategy} seed {seed}: "
                + ", ".join(f"{int(t * 100)}% at {labels_needed(curve, t)}" for t in TARGETS),
                flush=True,
            )
        report["strategies"][strategy] = {str(t): needed[t] for t in TARGETS}
    print(f"\nlabels needed (of {len(truth)} usable images), mean over {args.seeds} seeds:")
    for strategy, needed in report["strategies"].items():
        cells = []
        for t in TARGETS:
            values = needed[str(t)]
            cells.append(
                f"{int(t * 100)}%: "
                + (f"{np.mean(values):.0f}" if None not in values else f"{values}")
            )
        print(f"  {strategy:12} " + "  ".join(cells))
    (args.out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
