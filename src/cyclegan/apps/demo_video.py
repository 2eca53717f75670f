"""``cyclegan demo --kind video``: the shapes demo's model on a moving clip with sound,
frame by frame and smoothed, scored for flicker and against the true translation.

It trains as ``cyclegan demo`` does (``demo.py``: scenes of shapes by day, A, and as
a night negative with outlines, B), then draws one scene whose shapes glide along
smooth paths, in both styles at the same instants: the day clip (with a little
camera noise and a 440 Hz tone) is the input, the night clip the true translation.
The day clip is translated twice, frame by frame and with temporal smoothing, and
each result is scored three ways: its warping error and change ratio
(``evaluation/flicker.py``), and its mean error against the true night frames,
which says whether steadier also means less right. Frames of all four are saved
side by side to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from cyclegan.apps.demo import DEMO_MINUTES, DEMO_STEPS, run_demo
from cyclegan.apps.demo_scenes import SIZE, random_scene, render
from cyclegan.data.flow import Flow
from cyclegan.data.imageio import save_image
from cyclegan.data.video import frames, require_av
from cyclegan.data.video_writer import write_video
from cyclegan.evaluation.flicker import flicker
from cyclegan.inference.translate import load_translator
from cyclegan.inference.video import translate_video
from cyclegan.settings import VideoOutput

FPS, SECONDS = 25, 6
NOISE = 3.0  # camera noise, 0-255 levels: what makes frame-by-frame translation flicker
SMOOTHING = 0.8  # measured on this clip: see docs/benchmarks.md, Videos
STRIPS = 4  # frames shown side by side, spread over the clip


def moving_scene(seed: int, n: int = FPS * SECONDS) -> list[list]:
    """One scene, its shapes gliding: the scene at each of ``n`` frames."""
    rng = np.random.default_rng(seed + 1000)
    scene = random_scene(rng)
    phases = rng.uniform(0, 2 * np.pi, (len(scene), 2))
    return [
        [
            (kind, cx + 0.1 * np.sin(t / 30 + px), cy + 0.08 * np.sin(t / 40 + py), r)
            for (kind, cx, cy, r), (px, py) in zip(scene, phases, strict=True)
        ]
        for t in range(n)
    ]


def write_clips(folder: Path, seed: int, seconds: float = SECONDS) -> tuple[Path, Path]:
    """The day clip (noise, tone) and the true night clip, frame for frame."""
    scenes = moving_scene(seed, round(FPS * seconds))
    rng = np.random.default_rng(seed)

    def day():
        for scene in scenes:
            img = render(scene, "A", SIZE) * 255 + rng.normal(0, NOISE, (SIZE, SIZE, 3))
            yield np.clip(img + 0.5, 0, 255).astype(np.uint8)

    def night():
        for scene in scenes:
            yield np.clip(render(scene, "B", SIZE) * 255 + 0.5, 0, 255).astype(np.uint8)

    return (
        write_video(folder / "day.mp4", day(), FPS, tone_hz=440),
        write_video(folder / "night_true.mp4", night(), FPS),
    )


def error_against(path: Path, truth: Path) -> float:
    """Mean absolute error (0-255) of a clip's frames against the true ones."""
    errors = [
        np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()
        for a, b in zip(frames(path), frames(truth), strict=True)
    ]
    return float(np.mean(errors))


def run_video_demo(
    out: Path,
    steps: int = DEMO_STEPS,
    minutes: float = DEMO_MINUTES,
    seed: int = 0,
    log: Callable[[str], None] = print,
    seconds: float = SECONDS,
) -> dict[str, dict]:
    """Train the shapes demo, then translate, score and show a moving clip of
    ``seconds``."""
    out = Path(out)
    require_av(), Flow()  # the video extra, before minutes of training
    run_demo(out, steps=steps, minutes=minutes, seed=seed, log=log)
    folder = out / "video"
    day, truth = write_clips(folder, seed, seconds)
    log(
        f"\nvideo: {day} ({round(FPS * seconds)} frames of {SIZE} x {SIZE}, {FPS} fps, with a tone)"
    )
    translator = load_translator(out / "run", device="cpu")
    results = {}
    for name, strength in (("frame by frame", 0.0), (f"smoothed {SMOOTHING}", SMOOTHING)):
        dst = folder / ("night.mp4" if not strength else "night_smoothed.mp4")
        translate_video(translator, day, dst, video=VideoOutput(temporal_smoothing=strength))
        results[name] = {"path": dst, **flicker(day, dst), "error": error_against(dst, truth)}
    results["true night"] = {"path": truth, **flicker(day, truth), "error": 0.0}
    log("  translation        warping error  change ratio  error vs truth (0-255)")
    for name, r in results.items():
        log(f"  {name:<18} {r['warping_error']:13.2f} {r['change_ratio']:13.2f} {r['error']:15.1f}")
    log(
        f"  (the input's own warping error: {results['true night']['input_warping_error']:.2f};"
        " lower warping error and a change ratio nearer the true night's mean less flicker)"
    )
    strips = _save_strips(folder, [day, *(r["path"] for r in results.values())])
    log(f"look at: {strips} (each: day | frame by frame | smoothed | true night)")
    log(f"play: {folder / 'night_smoothed.mp4'} (the tone is copied from {day.name})")
    return results


def _save_strips(folder: Path, clips: list[Path]) -> Path:
    """Frames of each clip side by side, 4x larger (nearest), for the eye."""
    decoded = [list(frames(c)) for c in clips]
    count = len(decoded[0])
    for i in sorted({round(k * (count - 1) / (STRIPS - 1)) for k in range(STRIPS)}):
        row = np.concatenate([d[i] for d in decoded], axis=1).astype(np.float32) / 255
        row = row.repeat(4, axis=0).repeat(4, axis=1)
        save_image(row, folder / "strips" / f"frame_{i:03d}.png")
    return folder / "strips"
