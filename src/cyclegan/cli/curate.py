"""``cyclegan curate STEP``: the curation workflow's steps, their options and what each does.

cyclegan curate init PROJECT --source RAW [--name-a photo --name-b anime | --taxonomy T]
cyclegan curate label PROJECT [--host 127.0.0.1 --port 8765]   # calibration batch first
cyclegan curate status PROJECT                                 # owner checks calibration
cyclegan curate open PROJECT                                   # ... and opens production
cyclegan curate label PROJECT --mode review                    # settle disagreements
cyclegan curate audit PROJECT --sample 200                     # measure the error rate
cyclegan curate export PROJECT --out DATA                      # then: cyclegan train --data DATA
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cyclegan.cli.options import access_token, add_access_options, add_quiet
from cyclegan.cli.parser import Command
from cyclegan.curate.store import DEFAULT_TAXONOMY, CurationError, Project

PROJECT_HELP = "the curation project folder (made by curate init)"


def _add_init(init: argparse.ArgumentParser) -> None:
    init.add_argument("project", type=Path, help=PROJECT_HELP)
    init.add_argument("--source", type=Path, required=True, help="the raw images (recursive)")
    init.add_argument(
        "--taxonomy",
        type=Path,
        help="JSON file: question, choices (key, name, hint); keys A and B are the domains",
    )
    init.add_argument("--name-a", default=None, help="what domain A is called (e.g. photo)")
    init.add_argument("--name-b", default=None, help="what domain B is called (e.g. anime)")
    init.add_argument("--calibration", type=int, default=20, help="calibration batch size")
    init.add_argument("--labels-per-image", type=int, default=1, help="labels each image gets")
    init.add_argument("--min-size", type=int, default=64, help="reject smaller images (px)")
    init.add_argument("--seed", type=int, default=0, help="seed of the calibration sample")
    add_quiet(init)


def _add_export(exp: argparse.ArgumentParser) -> None:
    exp.add_argument("project", type=Path, help=PROJECT_HELP)
    exp.add_argument("--out", type=Path, required=True, help="a new folder for the dataset")
    exp.add_argument(
        "--test-fraction", type=float, default=0.1, help="share of each domain for testA/testB"
    )
    exp.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    add_quiet(exp)
    exp.add_argument("--link", action="store_true", help="symbolic links instead of copies")
    exp.add_argument(
        "--accept-suggestions",
        type=float,
        default=None,
        metavar="P",
        help="also export unlabeled images suggested with probability >= P",
    )


def _taxonomy(args) -> dict:
    if args.taxonomy:
        try:
            return json.loads(args.taxonomy.read_text())
        except (OSError, ValueError, RecursionError) as exc:
            raise CurationError(f"{args.taxonomy}: cannot read the taxonomy ({exc})") from None
    taxonomy = json.loads(json.dumps(DEFAULT_TAXONOMY))
    for choice in taxonomy["choices"]:
        name = {"A": args.name_a, "B": args.name_b}.get(choice["key"])
        if name:
            choice["name"] = name
            choice["hint"] = f"Clearly {name}."
    return taxonomy


def _scan(project: Project, quiet: bool) -> None:
    from cyclegan.cli.progress import TaskProgress
    from cyclegan.curate.scan import scan

    bar = TaskProgress(quiet, unit="file")
    result = scan(project, progress=bar.of("scanning"))
    bar.close()
    print(
        f"scanned {result.added} new file(s): {result.ok} usable, {result.duplicates} "
        f"duplicate(s), {result.rejected} rejected"
    )


def _status(project: Project, as_json: bool) -> None:
    p = project.progress()
    info = {
        "phase": p.phase,
        "usable": p.images_ok,
        "rejected": p.rejected,
        "duplicates": p.duplicates,
        "labeled": p.labeled_complete,
        "labels": p.labels,
        "in_review": p.in_review,
        "final": p.final,
        "calibration": project.calibration_summary(),
        "agreement": project.agreement(),
        "audit": project.audit_result(),
    }
    if as_json:
        print(json.dumps(info, indent=2))
        return
    names = {c["key"]: c["name"] for c in project.taxonomy["choices"]}
    cal = info["calibration"]
    print(f"phase: {p.phase}")
    print(f"images: {p.images_ok} usable, {p.duplicates} duplicates, {p.rejected} rejected")
    print(
        f"labeled: {p.labeled_complete}/{p.images_ok} ({p.labels} labels), "
        f"{p.in_review} waiting for review"
    )
    print("final: " + ", ".join(f"{names.get(k, k)} {v}" for k, v in sorted(p.final.items())))
    print(
        f"calibration: {cal['labeled']}/{cal['size']} labeled "
        + ", ".join(f"{names.get(k, k)} {v}" for k, v in sorted(cal["choices"].items()))
    )
    if info["agreement"]["rate"] is not None:
        a = info["agreement"]
        print(f"agreement: {a['all_agree']}/{a['images_with_several_labels']} ({a['rate']:.1%})")
    audit = info["audit"]
    if audit["reviewed"]:
        lo, hi = audit["ci95"]
        print(
            f"audit: {audit['errors']} errors in {audit['reviewed']} "
            f"({audit['error_rate']:.1%}, 95% interval {lo:.1%} to {hi:.1%})"
        )
    if p.phase == "calibration" and cal["size"] and cal["labeled"] == cal["size"]:
        print(f"calibration complete: check it, then run: cyclegan curate open {project.folder}")


def _add_project(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", type=Path, help=PROJECT_HELP)


def _add_scan(scan: argparse.ArgumentParser) -> None:
    _add_project(scan)
    add_quiet(scan)


def _add_page(p: argparse.ArgumentParser) -> None:
    """What both pages (label, audit) are served with."""
    _add_project(p)
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to be reachable from others")
    p.add_argument("--port", type=int, default=8765, help="TCP port to listen on")
    add_access_options(p)


def _add_label(p: argparse.ArgumentParser) -> None:
    _add_page(p)
    p.add_argument(
        "--mode",
        choices=("label", "review"),
        default="label",
        help="label: new images; review: images whose labels disagree",
    )


def _add_audit(p: argparse.ArgumentParser) -> None:
    _add_page(p)
    p.add_argument("--sample", type=int, default=200, help="images to add to the audit")
    p.add_argument("--seed", type=int, default=0, help="seed of the audit sample")


def _add_status(status: argparse.ArgumentParser) -> None:
    _add_project(status)
    status.add_argument("--json", action="store_true", help="print one JSON object")


def _run_init(args: argparse.Namespace) -> int:
    project = Project.create(
        args.project,
        args.source,
        _taxonomy(args),
        args.calibration,
        args.labels_per_image,
        args.min_size,
        args.seed,
    )
    _scan(project, args.quiet)
    print(f"next: cyclegan curate label {args.project}")
    return 0


def _run_scan(args: argparse.Namespace) -> int:
    _scan(Project.open(args.project), args.quiet)
    return 0


def _serve_page(args: argparse.Namespace, project: Project, mode: str) -> int:
    from cyclegan.apps.webguard import exposure_warning, server_url
    from cyclegan.curate.server import serve

    token = access_token(args)
    warning = exposure_warning(args.host, token)
    if warning:
        print(warning, file=sys.stderr)
    print(f"open {server_url(args.host, args.port, token)} ({mode}); Ctrl-C to stop")
    serve(project, mode, args.host, args.port, token, tuple(args.allowed_host))
    return 0


def _run_label(args: argparse.Namespace) -> int:
    return _serve_page(args, Project.open(args.project), args.mode)


def _run_audit(args: argparse.Namespace) -> int:
    project = Project.open(args.project)
    added = project.start_audit(args.sample, args.seed)
    print(f"added {added} image(s) to the audit")
    return _serve_page(args, project, "audit")


def _run_open(args: argparse.Namespace) -> int:
    Project.open(args.project).open_production()
    print("production batches are open")
    return 0


def _run_status(args: argparse.Namespace) -> int:
    _status(Project.open(args.project), args.json)
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from cyclegan.cli.progress import TaskProgress
    from cyclegan.curate.export import export

    project = Project.open(args.project)
    bar = TaskProgress(args.quiet, unit="file")
    summary = export(
        project,
        args.out,
        args.test_fraction,
        args.seed,
        args.link,
        args.accept_suggestions,
        progress=bar.of("exporting"),
    )
    bar.close()
    print(json.dumps(summary["exported"]))
    print(f"next: cyclegan train --data {args.out} --run RUN")
    return 0


def _run_suggest(args: argparse.Namespace) -> int:
    from cyclegan.curate.suggest import suggest

    print(json.dumps(suggest(Project.open(args.project)), indent=2))
    return 0


# The steps in the order a project goes through them.
STEPS = (
    Command("init", "create a project and scan the source folder", None, _add_init, _run_init),
    Command("scan", "pick up new files in the source folder", None, _add_scan, _run_scan),
    Command("label", "serve the labeling page", None, _add_label, _run_label),
    Command("status", "counts and progress at a glance", None, _add_status, _run_status),
    Command("open", "open the production batches after calibration", None, _add_project,
            _run_open),
    Command("audit", "sample labeled images and serve the audit page", None, _add_audit,
            _run_audit),
    Command("export", "write trainA/trainB/testA/testB and labels", None, _add_export,
            _run_export),
    Command("suggest", "propose labels with a classifier on image features", None,
            _add_project, _run_suggest),
)  # fmt: skip

CURATE = Command(
    "curate",
    "sort a pile of images into domain A, B, neither",
    "Curate a raw pile of images into training folders.",
    lambda curate: None,  # every option belongs to a step
    steps=STEPS,
)
