"""Checkpoint files that parse but hold the wrong structure: missing keys, wrong types,
wrong shapes, extra keys, deep nesting. Resuming and translating with any of them is
a ``CheckpointError`` naming the file (one line on the command line) or works; never
another exception (issue "A run is never lost"; before it, about 20 kinds of raw
tracebacks)."""

from __future__ import annotations

import collections
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from conftest import tiny_config, write_images
from cyclegan.cli.main import main
from cyclegan.errors import CycleGANError
from cyclegan.inference.translate import load_translator
from cyclegan.model.run_checkpoints import latest_checkpoint
from cyclegan.model.statefile import load_state, save_state
from cyclegan.training.build import build_run
from cyclegan.training.trainer import train

# Per file kind; each example builds a run (about 0.2 s). CYCLEGAN_FUZZ_EXAMPLES=200
# CYCLEGAN_FUZZ_TALLY=tally.json runs more and writes what happened to each use.
EXAMPLES = int(os.environ.get("CYCLEGAN_FUZZ_EXAMPLES", "25"))
TALLY: collections.Counter = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def _tally():
    yield
    if os.environ.get("CYCLEGAN_FUZZ_TALLY"):
        rows = {" / ".join(k): v for k, v in sorted(TALLY.items())}
        Path(os.environ["CYCLEGAN_FUZZ_TALLY"]).write_text(json.dumps(rows, indent=1))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A run of three steps whose checkpoint has Adam moments and pooled fakes."""
    root = tmp_path_factory.mktemp("pristine")
    write_images(root / "data" / "trainA", 3, seed=1)
    write_images(root / "data" / "trainB", 3, seed=2)
    train(tiny_config(root / "data", root / "run", max_iters=3, report=False))
    return root


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
DEEP = "[" * 100_000 + "]" * 100_000  # nested deeper than any JSON parser allows
SENTINEL = "__deep_nesting_here__"


def _paths(tree, prefix=()):
    """Every place in a JSON-like tree (dict keys and list positions)."""
    yield prefix
    if isinstance(tree, dict) and set(tree) == {"__t"}:
        return  # a tensor's stand-in: the tensor is a leaf
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(tree, list | tuple):
        for i, v in enumerate(tree):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutation(draw, tree):
    """(place, what): delete it, replace it with another value, or add a key beside it."""
    places = [p for p in _paths(tree) if p]
    place = draw(st.sampled_from(places))
    what = draw(st.sampled_from(["delete", "replace", "extra", "deep"]))
    value = draw(JSON_VALUES)
    return place, what, value


def _apply(tree, place, what, value):
    parent = tree
    for key in place[:-1]:
        parent = parent[key]
    key = place[-1]
    if isinstance(parent, tuple):  # tuples stand for fixed records; mutate as a list
        return _apply_tuple(tree, place, what, value)
    if what == "delete":
        del parent[key]
    elif what == "replace":
        parent[key] = value
    elif what == "deep":
        parent[key] = SENTINEL
    elif isinstance(parent, dict):
        parent[f"extra_{key}"] = value
    else:
        parent.append(value)
    return tree


def _apply_tuple(tree, place, what, value):
    parent = tree
    for key in place[:-2]:
        parent = parent[key]
    as_list = list(parent[place[-2]])
    parent[place[-2]] = _apply(as_list, place[-1:], what, value)
    return tree


def _copy(pristine, tmp_path):
    run = tmp_path / "run"
    if run.exists():
        shutil.rmtree(run)
    shutil.copytree(pristine / "run", run)
    return run, latest_checkpoint(run)


def _resume_and_translate(pristine, run, kind="?"):
    """Both uses of a checkpoint; either may refuse it, clearly (any other exception
    fails the test)."""
    cfg = tiny_config(pristine / "data", run, max_iters=4)
    for use, attempt in (
        ("resume", lambda: build_run(cfg, resume=True).close()),
        ("translate", lambda: load_translator(run, device="cpu")),
    ):
        try:
            attempt()
            TALLY[(kind, use, "accepted")] += 1
        except CycleGANError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
            TALLY[(kind, use, "refused in one line")] += 1


@pytest.mark.parametrize("name", ["config.json", "training.json"])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_a_wrongly_shaped_description_is_refused_clearly(pristine, tmp_path, name, data):
    run, folder = _copy(pristine, tmp_path)
    tree = json.loads((folder / name).read_text())
    place, what, value = data.draw(mutation(tree))
    tree = _apply(tree, place, what, value)
    (folder / name).write_text(json.dumps(tree).replace(f'"{SENTINEL}"', DEEP))
    _resume_and_translate(pristine, run, name)


@settings(max_examples=2 * EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@pytest.mark.slow
@given(data=st.data())
def test_a_wrongly_shaped_training_state_is_refused_clearly(pristine, tmp_path, data):
    run, folder = _copy(pristine, tmp_path)
    original = load_state(folder)
    tree = json.loads(json.dumps(original, default=lambda t: {"__t": 0}))
    place, what, value = data.draw(mutation(tree))
    save_state(folder, _tensors_back(_apply(tree, place, what, value), original))
    if what == "deep":
        text = (folder / "training_state.json").read_text()
        (folder / "training_state.json").write_text(text.replace(f'"{SENTINEL}"', DEEP))
    _resume_and_translate(pristine, run, "training_state.json")


def _tensors_back(tree, original):
    """The JSON copy with the original tensors, int keys and tuples in their places."""
    if isinstance(tree, dict) and set(tree) == {"__t"} and isinstance(original, torch.Tensor):
        return original
    if isinstance(tree, dict) and isinstance(original, dict):
        back = {}
        for k, v in tree.items():
            was = int(k) if k not in original and k.isdigit() and int(k) in original else k
            back[was] = _tensors_back(v, original[was]) if was in original else v
        return back
    if isinstance(tree, list) and isinstance(original, list | tuple):
        items = [_tensors_back(v, original[i]) if i < len(original) else v
                 for i, v in enumerate(tree)]  # fmt: skip
        return tuple(items) if isinstance(original, tuple) else items
    return tree


TENSOR_DAMAGE = ["drop", "extra", "reshape", "dtype int", "dtype bool", "scalar"]


@pytest.mark.parametrize("file", ["g_ab", "d_b", "training_state"])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(damage=st.sampled_from(TENSOR_DAMAGE), pick=st.integers(0, 10_000))
def test_wrong_tensors_are_refused_key_by_key(pristine, tmp_path, file, damage, pick):
    run, folder = _copy(pristine, tmp_path)
    path = folder / f"{file}.safetensors"
    tensors = load_file(path)
    key = sorted(tensors)[pick % len(tensors)]
    if damage == "drop":
        del tensors[key]
    elif damage == "extra":
        tensors["extra.weight"] = torch.zeros(3)
    elif damage == "reshape":
        tensors[key] = torch.zeros(tensors[key].numel() + 1)
    elif damage == "dtype int":
        tensors[key] = tensors[key].to(torch.int64)
    elif damage == "dtype bool":
        tensors[key] = tensors[key] != 0
    else:
        tensors[key] = torch.zeros(())
    save_file(tensors, path)
    _resume_and_translate(pristine, run, f"{file}.safetensors")


def test_a_latest_pointer_of_several_lines_or_outside_the_run_is_not_followed(pristine, tmp_path):
    run, folder = _copy(pristine, tmp_path)
    outside = tmp_path / "outside"
    shutil.copytree(folder, outside)
    for content in (f"{folder.name}\n{folder.name}\n", str(outside), "../../outside", "\x00"):
        (run / "checkpoints" / "latest").write_text(content)
        assert latest_checkpoint(run) == folder, content


@pytest.mark.parametrize(
    ("file", "content", "needle"),
    [
        ("training.json", {"global_step": "3"}, "global_step"),
        ("config.json", {"version": "2"}, "version"),
        ("config.json", {"network": 5}, "network"),
    ],
)
def test_one_line_on_the_command_line_names_file_and_field(
    pristine, tmp_path, capsys, file, content, needle
):
    run, folder = _copy(pristine, tmp_path)
    values = json.loads((folder / file).read_text())
    (folder / file).write_text(json.dumps({**values, **content}))
    assert main(["train", "--run", str(run), "--resume"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and file in err[-1] and needle in err[-1], err
    assert "Traceback" not in "\n".join(err)


def test_moments_of_the_wrong_shape_name_their_place(pristine, tmp_path, capsys):
    run, folder = _copy(pristine, tmp_path)
    state = load_state(folder)
    state["step"]["opt_g"]["state"][3]["exp_avg"] = torch.zeros(2, 2)
    save_state(folder, state)
    assert main(["train", "--run", str(run), "--resume"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "training_state" in err and "step/opt_g/state/3/exp_avg" in err, err


def test_the_raster_types_a_checkpoint_may_name_are_those_rasters_read():
    from cyclegan.data.rasters import DTYPES
    from cyclegan.model.checkpoint_schema import _DTYPES

    assert _DTYPES == DTYPES


@pytest.mark.parametrize(
    ("domains", "needle"),
    [
        ({"A": {"channels": "4"}}, "domains/A"),
        ({"A": {"channels": 2, "stats": {"low": [0], "high": [1, 2]}}}, "domains/A/stats/low"),
        ({"B": {"channels": 1, "stats": {"low": ["x"], "high": [1]}}}, "domains/B/stats/low"),
        ({"B": {"channels": 1, "stats": {"low": [0], "high": [1], "dtype": "u9"}}}, "dtype"),
        ({"C": {}}, "domains"),
        ([1], "domains"),
    ],
)
def test_damaged_band_statistics_in_a_checkpoint_name_their_field(
    pristine, tmp_path, domains, needle
):
    run, folder = _copy(pristine, tmp_path)
    values = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**values, "domains": domains}))
    with pytest.raises(CycleGANError, match=needle):
        load_translator(run, device="cpu")
