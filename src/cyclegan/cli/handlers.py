"""What each ``cyclegan`` subcommand does: one function each, ``run_NAME(args) -> exit
code``, calling the library. The table that joins each to its options is ``main.py``'s.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cyclegan.cli.options import access_token, config_from_args, from_args, reference_network
from cyclegan.cli.progress import TaskProgress, TrainingProgress
from cyclegan.config import TrainConfig
from cyclegan.errors import CycleGANError
from cyclegan.model.layout import RunFiles
from cyclegan.model.run_checkpoints import is_run_folder
from cyclegan.presets import preset_summary
from cyclegan.settings import Bench, Evaluation, Hardware, Scale, Server, Tiling


def run_train(args: argparse.Namespace) -> int:
    from cyclegan.training.resume import RESUME_OVERRIDES
    from cyclegan.training.trainer import TrainingInterrupted, train

    overrides = None
    if args.resume:
        if not getattr(args, "run", None):
            raise CycleGANError("--resume needs --run RUN: the run folder to continue")
        if args.preset:
            raise CycleGANError("--preset is for a new run; a resumed run keeps its options")
        limits = {k: getattr(args, k) for k in ("max_iters", "max_minutes") if hasattr(args, k)}
        cfg = TrainConfig(run=args.run, **limits)
        overrides = {k: getattr(args, k) for k in RESUME_OVERRIDES if hasattr(args, k)}
    else:
        cfg = config_from_args(args)
        if args.preset and os.environ.get("RANK", "0") == "0":
            print(f"preset {args.preset}: {preset_summary(args.preset)} (options given win)")
    # Under torchrun every process runs this; only rank 0 draws progress and prints.
    main_process = os.environ.get("RANK", "0") == "0"
    progress = TrainingProgress() if main_process else None
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


def run_export(args: argparse.Namespace) -> int:
    from cyclegan.apps.export import export_onnx

    if args.output.suffix != ".onnx":
        raise CycleGANError(f"--output {args.output}: name the file to write, ending in .onnx")
    from cyclegan.inference.files import check_new_outputs

    check_new_outputs([args.output] if args.output.exists() else [], args.overwrite)
    bar = TaskProgress(args.quiet, unit="step")
    result = export_onnx(
        args.model,
        args.output,
        args.direction,
        reference_network(args),
        not args.no_verify,
        progress=bar,
        averaged=not args.raw_weights,
    )
    bar.close()
    print(f"wrote {result['path']} ({args.direction}; {result['metadata']['cyclegan.input']})")
    if "max_abs_diff" in result:
        print(
            f"checked in onnxruntime: largest difference from PyTorch {result['max_abs_diff']:.1e}"
        )
    return 0


def run_serve(args: argparse.Namespace) -> int:
    try:
        from cyclegan.apps.serve import create_app, serve
    except ImportError as exc:
        raise CycleGANError(
            f"cyclegan serve needs the serve extra ({exc.name} is missing): "
            "pip install 'cyclegan[serve]'"
        ) from None
    from cyclegan.apps.webguard import exposure_warning, server_url
    from cyclegan.inference.translate import load_translator

    server = from_args(Server, args)
    hardware = from_args(Hardware, args)
    translator = load_translator(
        args.model, reference_network(args), **vars(hardware), averaged=not args.raw_weights
    )
    translator.at_scale(from_args(Scale, args))
    app = create_app(translator, from_args(Tiling, args), server)
    token = access_token(args)
    warning = exposure_warning(server.host, token)
    if warning:
        print(warning, file=sys.stderr)
    url = server_url(server.host, server.port, token)
    print(f"open {url} ({translator.source}); Ctrl-C to stop")
    serve(app, server.host, server.port, token, tuple(args.allowed_host))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from cyclegan.apps.bench import format_report, main_json, run_bench

    result = run_bench(from_args(Bench, args), from_args(Hardware, args))
    print(main_json(result) if args.json else format_report(result))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from cyclegan.apps import evaluate as ev
    from cyclegan.inference.files import check_new_outputs

    if args.out:  # before the work, not after it
        check_new_outputs([args.out] if args.out.exists() else [], args.overwrite)
    bar = TaskProgress(args.quiet)
    hardware, how = from_args(Hardware, args), from_args(Evaluation, args)
    if args.video:
        if not args.fake or args.real or args.model:
            raise CycleGANError("score a video's flicker with --video SRC --fake TRANSLATED")
        from cyclegan.evaluation.flicker import flicker, flicker_line

        report = {
            "video": str(args.video),
            "fake": str(args.fake),
            **flicker(args.video, args.fake),
        }
        text = flicker_line(str(args.fake), report)
    elif args.fake or args.real:
        if not (args.fake and args.real) or args.model:
            raise CycleGANError("compare folders with both --fake DIR and --real DIR (no --model)")
        report = ev.compare_folders(
            args.fake,
            args.real,
            "cpu" if hardware.device == "auto" else hardware.device,
            how.cache,
            progress=bar,
        )
        text = ev.format_report(report)
    else:
        if not (args.model and args.data):
            raise CycleGANError("evaluate needs --model and --data (or --fake and --real)")
        opts = {
            "split": how.split,
            "direction": args.direction,
            **vars(hardware),
            "cache_dir": how.cache,
            "progress": bar,
            "scale": from_args(Scale, args),
            "averaged": not args.raw_weights,
            "batch_size": how.batch_size,
        }
        if how.checkpoints == "all":
            report = ev.evaluate_checkpoints(Path(args.model), args.data, how.metric, **opts)
            best = report["best"]
            text = "\n".join(
                [
                    *(ev.format_report(r) for r in report["reports"]),
                    f"best by {best['metric']}: {best['checkpoint']} "
                    f"({best['value']:.4f}); marked in "
                    f"{RunFiles(args.model).best_record}",
                ]
            )
        else:
            report = ev.evaluate_model(Path(args.model), args.data, **opts)
            text = ev.format_report(report)
    bar.close()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(ev.dumps(report) + "\n")
    print(ev.dumps(report) if args.json else text)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from cyclegan.training import health_report as validation_log
    from cyclegan.training import losslog
    from cyclegan.training.health_report import plot_validation
    from cyclegan.training.report import build_report, plot_losses

    if not is_run_folder(args.run):
        raise CycleGANError(f"{args.run}: not a run folder (no options.json)")
    for log in (losslog, validation_log):  # what a crash or an editor left, said once
        log.read(args.run, note=lambda message: print(f"note: {message}", file=sys.stderr))
    plot_losses(args.run)
    plot_validation(args.run)
    print(f"wrote {build_report(args.run)}")
    return 0


def run_results(args: argparse.Namespace) -> int:
    from cyclegan.data.datasets import find_domains
    from cyclegan.inference.translate import load_translator
    from cyclegan.training.report import RESULTS_PAGE, results_page

    if is_run_folder(args.out):
        raise CycleGANError(
            f"--out {args.out} is a run folder, whose index.html is its training report; "
            f"write the results elsewhere, such as {args.out / 'results'}"
        )
    from cyclegan.inference.files import check_new_outputs

    page = args.out / RESULTS_PAGE
    check_new_outputs([page] if page.exists() else [], args.overwrite)
    folders = find_domains(args.data)
    split = from_args(Evaluation, args).split
    pair = (
        (folders.test_a, folders.test_b) if split == "test" else (folders.train_a, folders.train_b)
    )
    if pair == (None, None):
        raise CycleGANError(
            f"{args.data}: no test folders (looked for testA/ and testB/, or test_a/ and "
            "test_b/); use --split train to show the training images"
        )
    translator = load_translator(
        args.model, **vars(from_args(Hardware, args)), averaged=not args.raw_weights
    )
    translator.at_scale(from_args(Scale, args))
    bar = TaskProgress(args.quiet)
    page = results_page(translator, *pair, args.out, progress=bar)
    bar.close()
    print(f"wrote {page}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from cyclegan.apps.demo import DEMO_STEPS, Demo, run_demo

    demo = from_args(Demo, args)
    if demo.kind == "eo":
        from cyclegan.apps.demo_eo import EO_STEPS, run_eo_demo

        steps = EO_STEPS if demo.steps is None else demo.steps
        run_eo_demo(demo.out, steps=steps, minutes=demo.minutes, seed=demo.seed, log=print)
        return 0
    steps = DEMO_STEPS if demo.steps is None else demo.steps
    if demo.kind == "video":
        from cyclegan.apps.demo_video import run_video_demo

        run_video_demo(demo.out, steps=steps, minutes=demo.minutes, seed=demo.seed, log=print)
        return 0
    run_demo(demo.out, steps=steps, minutes=demo.minutes, seed=demo.seed, log=print)
    return 0
