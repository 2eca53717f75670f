"""Does bf16 training keep the quality of fp32? Same seed, same data, both precisions.

Trains 200 steps on ../shared/datasets/horse2zebra at 128 px (resize to 143,
random 128 crop, flips) once in fp32 and once in bf16, from the same seed, then
compares:

- the loss curves: means over windows of 50 steps, per loss, as the relative
  difference bf16 / fp32 - 1. The tolerance we hold the cycle and identity
  losses to is 5% per window. GAN training is chaotic: runs that differ by one
  rounding drift apart step by step (tests/test_step.py measures it), so the
  curves can only track each other in their windowed means, not step by step;
- the translations of horse2zebra/testA by both final models (fp32 inference
  for both, so only the training differs): mean absolute difference between the
  two on a 0-255 scale, next to how far each translation moved from its input.
  Side-by-side strips (input | fp32-trained | bf16-trained) are saved.

Usage: python benchmarks/precision_quality.py [--steps 200] [--out bench_out/precision]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cyclegan import NetworkConfig, TrainConfig, load_translator, train
from cyclegan.data.imageio import load_image, save_image

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets" / "horse2zebra"
WINDOW = 50
KEPT = ("cycle_a", "cycle_b", "idt_ab", "idt_ba")


def run(precision: str, out: Path, steps: int) -> tuple[list[dict], float]:
    cfg = TrainConfig(
        data=str(DATA),
        run=str(out / precision),
        seed=0,
        precision=precision,
        load_size=143,
        crop_size=128,
        max_iters=steps,
        log_every=1,
        save_epoch_freq=1000,
        network=NetworkConfig(),
    )
    start = time.perf_counter()
    train(cfg)
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / precision / "losses.jsonl").open()]
    return rows, seconds


def windows(rows: list[dict], key: str) -> list[float]:
    values = [r[key] for r in rows]
    return [float(np.mean(values[i : i + WINDOW])) for i in range(0, len(values), WINDOW)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", type=Path, default=REPO / "bench_out" / "precision")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: this benchmark needs ../shared/datasets")
    args.out.mkdir(parents=True, exist_ok=True)

    curves, seconds = {}, {}
    for precision in ("fp32", "bf16"):
        curves[precision], seconds[precision] = run(precision, args.out, args.steps)
        print(f"{precision}: {args.steps} steps in {seconds[precision]:.0f} s", flush=True)

    report = {"steps": args.steps, "window": WINDOW, "seconds": seconds, "losses": {}}
    print(f"\nwindowed means ({WINDOW} steps), bf16 / fp32 - 1:")
    for key in ("g_ab", "g_ba", *KEPT, "d_a", "d_b"):
        full, low = windows(curves["fp32"], key), windows(curves["bf16"], key)
        rel = [lo / fu - 1 for lo, fu in zip(low, full, strict=True)]
        report["losses"][key] = {"fp32": full, "bf16": low, "relative": rel}
        flag = (
            ""
            if key not in KEPT
            else ("  within 5%" if max(map(abs, rel)) <= 0.05 else "  OUTSIDE 5%")
        )
        print(f"  {key:8} " + " ".join(f"{r:+7.2%}" for r in rel) + flag)
    waits = [r["data_wait_share"] for r in curves["bf16"][10:]]
    report["bf16_data_wait_share_median"] = float(np.median(waits))

    models = {
        p: load_translator(args.out / p, device="cpu", precision="fp32") for p in ("fp32", "bf16")
    }
    between, moved = [], []
    for path in sorted((DATA / "testA").iterdir()):
        x = load_image(path, 3)
        outs = {p: np.asarray(m.translate(x), dtype=np.float32) for p, m in models.items()}
        between.append(float(np.abs(outs["fp32"] - outs["bf16"]).mean()) * 255)
        moved.append(float(np.abs(outs["fp32"] - x).mean()) * 255)
        save_image(
            np.concatenate([x, outs["fp32"], outs["bf16"]], axis=1),
            args.out / "translations" / f"{path.stem}.png",
        )
    report["translation_mae_fp32_vs_bf16"] = float(np.mean(between))
    report["translation_mae_input_vs_fp32"] = float(np.mean(moved))
    print(
        f"\ntranslations of testA: fp32-trained vs bf16-trained differ by "
        f"{np.mean(between):.1f}/255 on average; fp32-trained vs its input: "
        f"{np.mean(moved):.1f}/255"
    )
    print(f"data wait share (bf16, median): {report['bf16_data_wait_share_median']:.1%}")
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"strips (input | fp32 | bf16): {args.out / 'translations'}")


if __name__ == "__main__":
    main()
