"""Rules of the code's shape that a review found broken once (issue 22), checked on the
source itself: each answer in one place, the layers, the size of a module."""

from __future__ import annotations

import argparse
import ast
import re

from conftest import REPO

SRC = REPO / "src" / "cyclegan"
MODULES = sorted(SRC.rglob("*.py"))

# The packages in the README's order: each imports only from those before it, and
# from the shared top-level modules.
LAYERS = ("model", "data", "inference", "evaluation", "training", "apps", "curate", "cli")
SHARED = {"config", "settings", "fields", "domain_options", "errors", "seeds", "directions",
          "presets"}  # fmt: skip
# The two documented exceptions: config.py reads the generator names from the model's
# registry, settings.py the output image formats from the one table of them.
SHARED_MAY_USE = {"config": {"model"}, "settings": {"data"}}


def _lines_matching(pattern: re.Pattern, skip: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{n}"
        for path in MODULES
        if path.name not in skip
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def _imported_packages(path) -> set[str]:
    """The ``cyclegan`` subpackages and top-level modules ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cyclegan"):
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("cyclegan.")}
    return found


def test_directions_and_domain_options_are_decoded_in_one_place():
    """No module decodes a direction by indexing its name or builds option names to look
    up: ``directions.py`` and ``TrainConfig.domain_options`` do."""
    assert _lines_matching(re.compile(r"direction\[(0|1|-1)\]|getattr\([^)]*f\"")) == []


def test_the_default_domains_are_built_in_one_place():
    """A model of pictures has its two domains from ``domain.picture_domains`` alone."""
    built = _lines_matching(re.compile(r"\{\s*\"A\": Domain\("), skip=("domain.py",))
    assert built == []


def test_no_module_over_350_lines():
    sizes = {str(p.relative_to(REPO)): len(p.read_text().splitlines()) for p in MODULES}
    assert {name: n for name, n in sizes.items() if n > 350} == {}


def test_each_package_imports_only_the_layers_above_it():
    wrong = []
    for path in MODULES:
        rel = path.relative_to(SRC)
        if len(rel.parts) == 1:  # a top-level module
            own, allowed = rel.stem, SHARED | SHARED_MAY_USE.get(rel.stem, set())
            if own not in SHARED:  # __init__ (the public API) and __main__ use anything
                continue
        else:
            own = rel.parts[0]
            allowed = SHARED | set(LAYERS[: LAYERS.index(own) + 1]) | {"__version__"}
        wrong += [f"{rel} imports {name}" for name in _imported_packages(path) - allowed - {own}]
    assert wrong == []


# The names of a run folder's files and folders (model/layout.py), as they would be
# spelled in a path built elsewhere: ``run / "losses.jsonl"``, ``folder / f"{n}.safetensors"``.
RUN_NAMES = re.compile(
    r"^(options|config|training|training_state|validation_split|best_checkpoint)\.json$"
    r"|\.(jsonl|safetensors)$|^(checkpoints|latest|best|samples|validation|tensorboard"
    r"|cache|\.lock)$|^(losses|validation|index)\.(png|html)$|^(band_stats|epoch)_"
)


def _path_literals(path) -> list[str]:
    """The text of every literal joined onto a path with ``/`` in ``path``'s code."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            right = node.right
            if isinstance(right, ast.Constant) and isinstance(right.value, str):
                found.append(right.value)
            elif isinstance(right, ast.JoinedStr):
                found.append("".join(v.value for v in right.values if isinstance(v, ast.Constant)))
    return found


def test_run_folder_names_are_spelled_only_in_layout():
    """Every path into a run folder or a checkpoint is built from ``model/layout.py``'s
    names; no other module spells one."""
    spelled = [
        f"{path.relative_to(REPO)}: {text!r}"
        for path in MODULES
        if path.name != "layout.py" and "curate" not in path.parts
        for text in _path_literals(path)
        if RUN_NAMES.search(text)
    ]
    assert spelled == []


def test_every_command_runs_what_the_table_names():
    """The parser and the dispatch come from ``main.COMMANDS``: every command (and
    curate's every step) that can be typed knows the function that runs it."""
    from cyclegan.cli.main import COMMANDS, build_parser
    from cyclegan.cli.options import all_parsers

    def has_steps(p):
        return any(isinstance(a, argparse._SubParsersAction) for a in p._actions)

    leaves = [p for p in all_parsers(build_parser()) if not has_steps(p)]
    assert {p.prog.split()[1] for p in leaves} == {c.name for c in COMMANDS}
    assert len(leaves) == sum(len(c.steps) or 1 for c in COMMANDS)
    assert all(callable(p.get_default("_handler")) for p in leaves)
