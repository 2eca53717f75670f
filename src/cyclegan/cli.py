"""The ``cyclegan`` command: a thin shell over the library.

Training options are generated from the fields of ``TrainConfig`` and
``NetworkConfig`` here and nowhere else. Each is spelled in kebab case
(``--n-epochs-decay``, ``--net-g``) and also accepts the reference's spelling
(``--n_epochs_decay``, ``--netG``, ``--no_flip``), so its users' commands carry
over. Only this module prints or sets exit codes:

====  ==========================================================
0     done
1     a user error (bad option, data or model): one line, no traceback
2     the command line itself is malformed (argparse)
130   stopped by Ctrl-C after saving a checkpoint (143: SIGTERM)
====  ==========================================================
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from cyclegan.config import DEVICES, PRECISIONS, NetworkConfig, TrainConfig
from cyclegan.errors import CycleGANError

_NETWORK_FIELDS = {f.name for f in dataclasses.fields(NetworkConfig)}
# Architecture options a reference .pth needs when translating with it.
_TRANSLATE_NETWORK_FIELDS = ("net_g", "ngf", "norm", "input_nc", "output_nc", "dropout")


def _kebab(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_field(parser: argparse._ActionsContainer, f: dataclasses.Field) -> None:
    """One option for one config field, with its reference spelling as an alias."""
    ref, help_text = f.metadata.get("ref"), f.metadata.get("help", "")
    choices = f.metadata.get("choices")
    default = f.default if f.default is not dataclasses.MISSING else None
    help_text = f"{help_text} (default: {default})"
    if isinstance(default, bool):
        parser.add_argument(
            _kebab(f.name),
            dest=f.name,
            action=argparse.BooleanOptionalAction,
            default=argparse.SUPPRESS,
            help=help_text,
        )
        if ref and ref.startswith("no_"):
            parser.add_argument(
                "--" + ref,
                dest=f.name,
                action="store_false",
                default=argparse.SUPPRESS,
                help=argparse.SUPPRESS,
            )
        return
    names = [_kebab(f.name), *f.metadata.get("aliases", ())]
    if ref and "--" + ref not in names:
        names.append("--" + ref)
    if ref and _kebab(ref) not in names:
        names.append(_kebab(ref))
    parser.add_argument(
        *names,
        dest=f.name,
        type=type(default),
        choices=choices,
        default=argparse.SUPPRESS,
        help=help_text,
        metavar=f.name.upper() if choices is None else None,
    )


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    given = {
        k: v
        for k, v in vars(args).items()
        if k in {f.name for f in dataclasses.fields(TrainConfig)} | _NETWORK_FIELDS
    }
    network = NetworkConfig(**{k: v for k, v in given.items() if k in _NETWORK_FIELDS})
    return TrainConfig(
        network=network, **{k: v for k, v in given.items() if k not in _NETWORK_FIELDS}
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyclegan", description="Unpaired image-to-image translation with CycleGAN."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train a CycleGAN on two folders of images",
        description="Train a CycleGAN. Options keep the reference's names.",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --run from its latest checkpoint"
    )
    groups = {
        "data": train.add_argument_group("data and run"),
        "net": train.add_argument_group("networks"),
        "train": train.add_argument_group("objective, schedule and bookkeeping"),
    }
    for f in dataclasses.fields(TrainConfig):
        if f.name == "network":
            continue
        group = (
            "data"
            if f.name
            in (
                "data",
                "run",
                "preprocess",
                "load_size",
                "crop_size",
                "flip",
                "max_dataset_size",
                "skip_bad_images",
                "num_workers",
            )
            else "train"
        )
        _add_field(groups[group], f)
    for f in dataclasses.fields(NetworkConfig):
        _add_field(groups["net"], f)

    tr = sub.add_parser(
        "translate",
        help="translate an image or a folder of images",
        description="Translate images with a trained model, at their own size.",
    )
    tr.add_argument(
        "--model",
        required=True,
        help="run folder, checkpoint folder, or reference generator .pth file",
    )
    tr.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"))
    tr.add_argument("--input", required=True, type=Path, help="an image file or a folder")
    tr.add_argument("--output", required=True, type=Path, help="folder for the translations")
    tr.add_argument(
        "--format",
        default=None,
        choices=("png", "jpg", "webp", "bmp", "tiff"),
        help="output format (default: the input's)",
    )
    tr.add_argument("--batch-size", type=int, default=1, help="images of equal size per batch")
    tr.add_argument("--device", default="auto", choices=DEVICES)
    tr.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="arithmetic (default: bf16 where the hardware has it)",
    )
    tr.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="refuse images larger than this (default: Pillow's bomb limit)",
    )
    ref = tr.add_argument_group("architecture of a reference .pth (ignored for checkpoints)")
    for f in dataclasses.fields(NetworkConfig):
        if f.name in _TRANSLATE_NETWORK_FIELDS:
            _add_field(ref, f)

    bench = sub.add_parser(
        "bench",
        help="time training and inference against fp32 eager",
        description="Time the fast path against the plain float32 form "
        "of the same step, side by side in one run.",
    )
    bench.add_argument("--size", type=int, default=256, help="image side in pixels")
    bench.add_argument(
        "--net-g",
        "--netG",
        dest="net_g",
        default="resnet_9blocks",
        choices=("resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256"),
    )
    bench.add_argument("--batch-size", type=int, default=1)
    bench.add_argument("--precision", default="auto", choices=PRECISIONS)
    bench.add_argument("--device", default="auto", choices=DEVICES)
    bench.add_argument("--steps", type=int, default=3, help="timed repetitions (median)")
    bench.add_argument("--warmup", type=int, default=1)
    bench.add_argument(
        "--infer-sizes", type=int, nargs="+", default=None, help="inference sizes (default: --size)"
    )
    bench.add_argument("--no-baseline", action="store_true", help="time the fast path only")
    bench.add_argument("--json", action="store_true", help="print one JSON object")

    ev = sub.add_parser(
        "evaluate",
        help="FID/KID, cycle and paired metrics; best checkpoint",
        description="Evaluate a model on a dataset's test folders, or compare "
        "two folders of images (--fake, --real).",
    )
    ev.add_argument("--model", help="run folder, checkpoint folder or reference .pth")
    ev.add_argument("--data", type=Path, help="dataset folder with testA/testB")
    ev.add_argument("--fake", type=Path, help="folder of generated images (with --real)")
    ev.add_argument("--real", type=Path, help="folder of real images (with --fake)")
    ev.add_argument("--split", choices=("test", "train"), default="test")
    ev.add_argument("--direction", choices=("AtoB", "BtoA", "both"), default="both")
    ev.add_argument(
        "--checkpoints",
        choices=("latest", "all"),
        default="latest",
        help="all: evaluate every checkpoint of a run and name the best",
    )
    ev.add_argument(
        "--metric",
        default="fid",
        choices=("fid", "kid", "cycle_l1", "paired_psnr", "paired_ssim"),
        help="what --checkpoints all picks the best by",
    )
    ev.add_argument("--device", default="auto", choices=DEVICES)
    ev.add_argument("--precision", default="auto", choices=PRECISIONS)
    ev.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "cyclegan" / "features",
        help="where Inception features are kept (by content hash)",
    )
    ev.add_argument("--out", type=Path, help="also write the JSON report here")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rep = sub.add_parser(
        "report",
        help="rebuild a run's loss curves and index.html",
        description="Rebuild RUN/losses.png and RUN/index.html from the run "
        "folder (they are also refreshed after every epoch).",
    )
    rep.add_argument("run", type=Path, help="the run folder")

    res = sub.add_parser(
        "results",
        help="a page of every test image translated both ways",
        description="Translate a dataset's test folders both ways and write "
        "an HTML page: input | translation | reconstruction.",
    )
    res.add_argument("--model", required=True, help="run folder, checkpoint folder or .pth")
    res.add_argument("--data", required=True, type=Path, help="dataset folder")
    res.add_argument("--split", choices=("test", "train"), default="test")
    res.add_argument("--out", required=True, type=Path, help="folder for the page")
    res.add_argument("--device", default="auto", choices=DEVICES)
    res.add_argument("--precision", default="auto", choices=PRECISIONS)

    from cyclegan.curate.cli import add_parser as add_curate_parser

    add_curate_parser(sub)

    demo = sub.add_parser("demo", help="train and test a small model on generated data")
    demo.add_argument("--out", type=Path, default=Path("demo_run"), help="where to write it")
    demo.add_argument("--minutes", type=float, default=4.0, help="training time budget")
    demo.add_argument("--seed", type=int, default=0)
    return parser


class _Progress:
    """Training progress on stderr: a tqdm bar on a terminal, a line now and then elsewhere."""

    def __init__(self) -> None:
        self.bar = None
        self.tty = sys.stderr.isatty()
        self.last_line = 0.0

    def scanning(self, domain: str, done: int, total: int) -> None:
        if done == total:
            print(f"checked {total} images of domain {domain}", file=sys.stderr)

    def skipped(self, domain: str, bad: list) -> None:
        print(f"skipping {len(bad)} unusable file(s) of domain {domain}:", file=sys.stderr)
        for path, why in bad:
            print(f"  {path}: {why}", file=sys.stderr)

    def started(self, info: dict) -> None:
        print(
            f"training on {info['device']}: {info['images_a']} A / {info['images_b']} B "
            f"images, {info['steps_per_epoch']} steps per epoch, {info['epochs']} epochs",
            file=sys.stderr,
        )
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(
                total=info["total_steps"],
                initial=info["start_step"],
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def stepped(self, info: dict) -> None:
        loss = info["losses"]
        text = (
            f"epoch {info['epoch']}/{info['epochs']} G {loss['g_ab']:.3f}/{loss['g_ba']:.3f} "
            f"cyc {loss['cycle_a']:.3f}/{loss['cycle_b']:.3f} "
            f"D {loss['d_a']:.3f}/{loss['d_b']:.3f} {info['images_per_s']:.2f} img/s"
        )
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif time.monotonic() - self.last_line > 10 or info["step"] == info["total_steps"]:
            self.last_line = time.monotonic()
            eta = time.strftime("%H:%M:%S", time.gmtime(info["eta_s"]))
            print(f"step {info['step']}/{info['total_steps']} {text} eta {eta}", file=sys.stderr)

    def saved(self, folder: Path) -> None:
        msg = f"saved checkpoint {folder}"
        (self.bar.write(msg, file=sys.stderr) if self.bar else print(msg, file=sys.stderr))

    def note(self, message: str) -> None:
        (self.bar.write(message, file=sys.stderr) if self.bar else print(message, file=sys.stderr))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _cmd_train(args: argparse.Namespace) -> int:
    from cyclegan.trainer import RESUME_OVERRIDES, TrainingInterrupted, train

    overrides = None
    if args.resume:
        if not getattr(args, "run", None):
            raise CycleGANError("--resume needs --run RUN: the run folder to continue")
        limits = {k: getattr(args, k) for k in ("max_iters", "max_minutes") if hasattr(args, k)}
        cfg = TrainConfig(run=args.run, **limits)
        overrides = {k: getattr(args, k) for k in RESUME_OVERRIDES if hasattr(args, k)}
    else:
        cfg = _config_from_args(args)
    # Under torchrun every process runs this; only rank 0 draws progress and prints.
    main_process = os.environ.get("RANK", "0") == "0"
    progress = _Progress() if main_process else None
    try:
        final = train(cfg, resume=args.resume, events=progress, overrides=overrides)
    except TrainingInterrupted as exc:
        if progress:
            progress.close()
            print(f"{exc}\nresume with: cyclegan train --run {cfg.run} --resume", file=sys.stderr)
        return 128 + exc.signum
    if not progress:
        return 0
    progress.close()
    print(
        f"done: {final}\ntranslate with: cyclegan translate --model {cfg.run} "
        "--direction AtoB --input IMAGES --output OUT"
    )
    return 0


def _cmd_translate(args: argparse.Namespace) -> int:
    from cyclegan.translate import collect_inputs, load_translator

    net_opts = {k: getattr(args, k) for k in _TRANSLATE_NETWORK_FIELDS if hasattr(args, k)}
    translator = load_translator(args.model, NetworkConfig(**net_opts), args.device, args.precision)
    files, root = collect_inputs(args.input)
    if args.input.is_file() and args.output.suffix and not args.output.is_dir():
        raise CycleGANError(f"--output {args.output} must be a folder (the file keeps its name)")
    from tqdm import tqdm

    failures = []
    bar = tqdm(total=len(files), unit="img", file=sys.stderr, disable=not sys.stderr.isatty())

    def done(src, dst, error):
        if error:
            failures.append(error)
            bar.write(f"skipped {error}", file=sys.stderr)
        bar.update(1)

    written = translator.translate_files(
        files,
        args.output,
        args.direction,
        root,
        args.format,
        args.batch_size,
        args.max_pixels,
        on_done=done,
    )
    bar.close()
    print(f"translated {len(written)} image(s) {args.direction} into {args.output}")
    if failures:
        print(f"{len(failures)} file(s) could not be read and were skipped", file=sys.stderr)
        return 1
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from cyclegan.bench import format_report, main_json, run_bench

    result = run_bench(
        args.size,
        args.net_g,
        args.batch_size,
        args.precision,
        args.device,
        args.steps,
        args.warmup,
        tuple(args.infer_sizes or ()) or None,
        baseline=not args.no_baseline,
    )
    print(main_json(result) if args.json else format_report(result))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from cyclegan import evaluate as ev

    if args.fake or args.real:
        if not (args.fake and args.real) or args.model:
            raise CycleGANError("compare folders with both --fake DIR and --real DIR (no --model)")
        report = ev.compare_folders(
            args.fake, args.real, "cpu" if args.device == "auto" else args.device, args.cache
        )
        text = ev.format_report(report)
    else:
        if not (args.model and args.data):
            raise CycleGANError("evaluate needs --model and --data (or --fake and --real)")
        opts = {
            "split": args.split,
            "direction": args.direction,
            "device": args.device,
            "precision": args.precision,
            "cache_dir": args.cache,
        }
        if args.checkpoints == "all":
            report = ev.evaluate_checkpoints(Path(args.model), args.data, args.metric, **opts)
            best = report["best"]
            text = "\n".join(
                [
                    *(ev.format_report(r) for r in report["reports"]),
                    f"best by {best['metric']}: {best['checkpoint']} "
                    f"({best['value']:.4f}); marked in "
                    f"{Path(args.model) / 'best_checkpoint.json'}",
                ]
            )
        else:
            report = ev.evaluate_model(Path(args.model), args.data, **opts)
            text = ev.format_report(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(ev.dumps(report) + "\n")
    print(ev.dumps(report) if args.json else text)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from cyclegan.report import build_report, plot_losses

    if not (args.run / "config.json").is_file():
        raise CycleGANError(f"{args.run}: not a run folder (no config.json)")
    plot_losses(args.run)
    print(f"wrote {build_report(args.run)}")
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from cyclegan.data import find_domains
    from cyclegan.report import results_page
    from cyclegan.translate import load_translator

    folders = find_domains(args.data)
    pair = (
        (folders.test_a, folders.test_b)
        if args.split == "test"
        else (folders.train_a, folders.train_b)
    )
    if pair == (None, None):
        raise CycleGANError(f"{args.data}: no test folders; use --split train")
    translator = load_translator(args.model, device=args.device, precision=args.precision)
    print(f"wrote {results_page(translator, *pair, args.out)}")
    return 0


def _cmd_curate(args: argparse.Namespace) -> int:
    from cyclegan.curate.cli import run

    return run(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from cyclegan.demo import run_demo

    run_demo(args.out, minutes=args.minutes, seed=args.seed, log=print)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    handler: dict[str, Any] = {
        "train": _cmd_train,
        "translate": _cmd_translate,
        "demo": _cmd_demo,
        "bench": _cmd_bench,
        "evaluate": _cmd_evaluate,
        "report": _cmd_report,
        "results": _cmd_results,
        "curate": _cmd_curate,
    }
    try:
        return handler[args.command](args)
    except CycleGANError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
