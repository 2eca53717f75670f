"""``cyclegan curate ...``: the curation workflow's commands (registered by ``cyclegan.cli.main``).

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

from cyclegan.cli.options import add_access_options, add_quiet
from cyclegan.curate.store import DEFAULT_TAXONOMY, CurationError, Project

PROJECT_HELP = "the curation project folder (made by curate init)"


def _add_init(cmds) -> None:
    init = cmds.add_parser("init", help="create a project and scan the source folder")
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


def _add_export(cmds) -> None:
    exp = cmds.add_parser("export", help="write trainA/trainB/testA/testB and labels")
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


def add_parser(sub) -> None:
    curate = sub.add_parser(
        "curate",
        help="sort a pile of images into domain A, B, neither",
        description="Curate a raw pile of images into training folders.",
    )
    cmds = curate.add_subparsers(dest="curate_command", required=True, metavar="STEP")

    _add_init(cmds)
    scan = cmds.add_parser("scan", help="pick up new files in the source folder")
    scan.add_argument("project", type=Path, help=PROJECT_HELP)
    add_quiet(scan)

    for name, text in (
        ("label", "serve the labeling page"),
        ("audit", "sample labeled images and serve the audit page"),
    ):
        p = cmds.add_parser(name, help=text)
        p.add_argument("project", type=Path, help=PROJECT_HELP)
        p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to be reachable from others")
        p.add_argument("--port", type=int, default=8765, help="TCP port to listen on")
        add_access_options(p)
        if name == "label":
            p.add_argument(
                "--mode",
                choices=("label", "review"),
                default="label",
                help="label: new images; review: images whose labels disagree",
            )
        else:
            p.add_argument("--sample", type=int, default=200, help="images to add to the audit")
            p.add_argument("--seed", type=int, default=0, help="seed of the audit sample")

    opn = cmds.add_parser("open", help="open the production batches after calibration")
    opn.add_argument("project", type=Path, help=PROJECT_HELP)

    status = cmds.add_parser("status", help="counts and progress at a glance")
    status.add_argument("project", type=Path, help=PROJECT_HELP)
    status.add_argument("--json", action="store_true", help="print one JSON object")

    _add_export(cmds)

    sug = cmds.add_parser("suggest", help="propose labels with a classifier on image features")
    sug.add_argument("project", type=Path, help=PROJECT_HELP)


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


def run(args: argparse.Namespace) -> int:
    cmd = args.curate_command
    if cmd == "init":
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
    project = Project.open(args.project)
    if cmd == "scan":
        _scan(project, args.quiet)
    elif cmd == "label" or cmd == "audit":
        from cyclegan.apps.webguard import exposure_warning, server_url
        from cyclegan.curate.server import serve

        mode = args.mode if cmd == "label" else "audit"
        if cmd == "audit":
            added = project.start_audit(args.sample, args.seed)
            print(f"added {added} image(s) to the audit")
        warning = exposure_warning(args.host, args.token)
        if warning:
            print(warning, file=sys.stderr)
        print(f"open {server_url(args.host, args.port, args.token)} ({mode}); Ctrl-C to stop")
        serve(project, mode, args.host, args.port, args.token, tuple(args.allowed_host))
    elif cmd == "open":
        project.open_production()
        print("production batches are open")
    elif cmd == "status":
        _status(project, args.json)
    elif cmd == "export":
        from cyclegan.cli.progress import TaskProgress
        from cyclegan.curate.export import export

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
    elif cmd == "suggest":
        from cyclegan.curate.suggest import suggest

        report = suggest(project)
        print(json.dumps(report, indent=2))
    return 0
