"""What each file of a checkpoint must hold, checked before anything of it is loaded.

A checkpoint folder is read from disk that anyone may have edited, copied half, or
mixed from two runs. Each file has one check here, which either passes or raises a
``CheckpointError`` naming the file, the field (as a path such as
``step/opt_g/state/3/exp_avg``) and what is wrong:

    config.json          ``check_description``: format, version, network options
    training.json        ``check_record``: options, position, sequence
    *.safetensors        ``reference.load_into``: key by key, shape by shape and
                         dtype, against the networks built from the configuration
                         (the first differences listed)
    training_state.*     ``check_training_state``: against the state a fresh run of
                         the same configuration has (``Run.state_dict``), with the
                         parts that grow in training (Adam's moments, the image
                         pools, validation's record) checked by their own rules

The descriptions and the training state are checked before any weight is loaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from cyclegan.errors import CheckpointError


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _kind(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    names = {bool: "true/false", int: "a number", float: "a number", str: "text",
             dict: "a dictionary", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _fail(path: Path, where: str, problem: str):
    field = f" field '{where}'" if where else ""
    raise CheckpointError(f"{path}:{field} {problem}; this checkpoint cannot be used")


def check_description(path: Path, values: dict, fmt: str, newest: int) -> None:
    if values.get("format") != fmt:
        _fail(
            path, "format", f"is {values.get('format')!r}, not {fmt!r}: not a cyclegan checkpoint"
        )
    version = values.get("version", 1)
    if not is_int(version) or version < 1:
        _fail(path, "version", f"is {version!r}, not a format number")
    if version > newest:
        _fail(
            path, "version", f"is {version}: written by a newer cyclegan (this one reads {newest})"
        )
    if not isinstance(values.get("network"), dict):
        _fail(
            path,
            "network",
            f"should be a dictionary of network options, is {_kind(values.get('network'))}",
        )
    if "domains" in values:
        check_domains(path, values["domains"])


def check_domains(path: Path, domains) -> None:
    """How each domain's files scale (``data/domain.py``): channels and band statistics."""
    if not isinstance(domains, dict) or not set(domains) <= {"A", "B"}:
        _fail(path, "domains", "should hold domain 'A' and 'B' descriptions")
    for label, domain in domains.items():
        at = f"domains/{label}"
        if not isinstance(domain, dict) or not is_int(domain.get("channels")):
            _fail(path, at, "should hold a whole number of 'channels'")
        channels, stats = domain["channels"], domain.get("stats")
        if not 1 <= channels <= 64:
            _fail(path, f"{at}/channels", f"is {channels}, not 1 to 64")
        if stats is None:
            continue
        if not isinstance(stats, dict):
            _fail(path, f"{at}/stats", f"should be a dictionary, is {_kind(stats)}")
        for key in ("low", "high"):
            band_values = stats.get(key)
            if not isinstance(band_values, list) or len(band_values) != channels:
                _fail(path, f"{at}/stats/{key}", f"should be {channels} numbers, one a band")
            if not all(is_number(v) for v in band_values):
                _fail(path, f"{at}/stats/{key}", "holds a value that is not a finite number")
        if stats.get("dtype") not in _DTYPES:
            _fail(path, f"{at}/stats/dtype", f"is {stats.get('dtype')!r}, not a raster data type")
        nodata = stats.get("nodata")
        if not (nodata is None or nodata == "nan" or is_number(nodata)):
            _fail(path, f"{at}/stats/nodata", f"is {nodata!r}, not a number or 'nan'")
        for key in ("bands", "rgb"):
            picked = stats.get(key)
            ok = picked is None or (
                isinstance(picked, list) and all(is_int(b) and b >= 1 for b in picked)
            )
            if not ok:
                _fail(path, f"{at}/stats/{key}", "should be a list of band numbers from 1")
        if not isinstance(stats.get("method", ""), str):
            _fail(path, f"{at}/stats/method", "should be text")
        names = stats.get("names") or []
        if not isinstance(names, list) or len(names) not in (0, channels):
            _fail(path, f"{at}/stats/names", f"should be a list of {channels} band names")
        if not all(isinstance(n, str) and len(n) <= 256 for n in names):
            _fail(path, f"{at}/stats/names", "should hold text, at most 256 characters a name")


# data/rasters.py's DTYPES (a layer below this one; tests/test_checkpoint_files.py
# checks that the two agree)
_DTYPES = ("uint8", "uint16", "int16", "uint32", "int32", "float32", "float64")


def check_record(path: Path, values: dict) -> None:
    """training.json (and version 1's config.json, which held the same fields)."""
    if "train" in values and not isinstance(values["train"], dict):
        _fail(path, "train", f"should be a dictionary of options, is {_kind(values['train'])}")
    for name in ("epochs_done", "batches_done", "global_step"):
        if name in values or "train" in values:
            value = values.get(name)
            if not is_int(value) or value < 0:
                _fail(path, name, f"should be a whole number of 0 or more, is {value!r}")
    if "sequence" in values and not is_int(values["sequence"]):
        _fail(path, "sequence", f"should be a whole number, is {values['sequence']!r}")


def check_training_state(path: Path, state: dict, template: dict) -> None:
    """``state`` (as read, with the older layouts already moved into place) against
    ``template``, the state of a fresh run built from the same configuration."""
    if not isinstance(state, dict):
        _fail(path, "", f"should hold a dictionary, holds {_kind(state)}")
    optional = {"loss_window", "validation", "world"}  # added over time; "rng" changes device
    for key in template:
        if key not in state and key not in optional:
            _fail(path, key, "is missing")
    for key, value in state.items():
        if key not in template:
            _fail(path, key, "is not part of a training state")
        rule = _RULES.get(key)
        if rule is not None:
            rule(path, key, value, template[key])
        else:
            _like(path, key, value, template[key])


def _like(path: Path, where: str, value, template) -> None:
    """``value`` has the structure of ``template``: the same keys, lengths, kinds, and
    tensors of the same dtype and shape."""
    if isinstance(template, torch.Tensor):
        if not isinstance(value, torch.Tensor):
            _fail(path, where, f"should be {_kind(template)}, is {_kind(value)}")
        if value.dtype != template.dtype or value.shape != template.shape:
            _fail(path, where, f"should be {_kind(template)}, is {_kind(value)}")
    elif isinstance(template, dict):
        if not isinstance(value, dict):
            _fail(path, where, f"should be a dictionary, is {_kind(value)}")
        for key in template:
            if key not in value:
                _fail(path, f"{where}/{key}", "is missing")
        for key in value:
            if key not in template:
                _fail(path, f"{where}/{key}", "is not expected here")
            _like(path, f"{where}/{key}", value[key], template[key])
    elif isinstance(template, list | tuple):
        if not isinstance(value, list | tuple) or len(value) != len(template):
            _fail(path, where, f"should be a list of {len(template)}, is {_kind(value)}")
        for i, (v, t) in enumerate(zip(value, template, strict=True)):
            _like(path, f"{where}/{i}", v, t)
    elif isinstance(template, bool):
        if not isinstance(value, bool):
            _fail(path, where, f"should be true or false, is {_kind(value)}")
    elif isinstance(template, int | float):
        if not is_number(value):
            _fail(path, where, f"should be a finite number, is {value!r}"[:200])
    elif isinstance(template, str):
        if not isinstance(value, str):
            _fail(path, where, f"should be text, is {_kind(value)}")
    elif template is None and value is not None:
        _fail(path, where, f"should be null, is {_kind(value)}")


def _step(path: Path, where: str, value, template) -> None:
    """The step's state: optimizers, scalers and schedules like a fresh run's, with
    Adam's moments shaped as the parameters they belong to, and the pools."""
    if not isinstance(value, dict):
        _fail(path, where, f"should be a dictionary, is {_kind(value)}")
    _like(path, where, {k: v for k, v in value.items() if not k.startswith(("opt_", "pool_"))},
          {k: v for k, v in template.items() if not k.startswith(("opt_", "pool_"))})  # fmt: skip
    for key in [k for k in template if k.startswith(("opt_", "pool_"))]:
        if key not in value:
            _fail(path, f"{where}/{key}", "is missing")
        check = _optimizer if key.startswith("opt_") else _pool
        check(path, f"{where}/{key}", value[key], template[key])


def _optimizer(path: Path, where: str, value, template) -> None:
    if not isinstance(value, dict) or set(value) != {"state", "param_groups"}:
        _fail(path, where, "should hold 'state' and 'param_groups'")
    _like(path, f"{where}/param_groups", value["param_groups"], template["param_groups"])
    shapes = template["shapes"]  # parameter index -> its shape (added by the caller)
    moments = value["state"]
    if not isinstance(moments, dict):
        _fail(path, f"{where}/state", f"should be a dictionary, is {_kind(moments)}")
    for index, entry in moments.items():
        at = f"{where}/state/{index}"
        if not is_int(index) or index not in shapes:
            _fail(path, at, f"names parameter {index!r}, which the network does not have")
        if not isinstance(entry, dict) or not {"step", "exp_avg", "exp_avg_sq"} <= set(entry):
            _fail(path, at, "should hold 'step', 'exp_avg' and 'exp_avg_sq'")
        for name, tensor in entry.items():
            if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
                _fail(path, f"{at}/{name}", f"should be a float tensor, is {_kind(tensor)}")
            want = () if name == "step" else shapes[index]
            if tuple(tensor.shape) != tuple(want):
                _fail(path, f"{at}/{name}", f"has shape {tuple(tensor.shape)}, not {tuple(want)}")


def _pool(path: Path, where: str, value, template) -> None:
    if not isinstance(value, dict) or set(value) != {"size", "images", "rng"}:
        _fail(path, where, "should hold 'size', 'images' and 'rng'")
    if value["size"] != template["size"] or not is_int(value["size"]):
        _fail(
            path, f"{where}/size", f"is {value['size']!r}, the run's pool holds {template['size']}"
        )
    images, channels = value["images"], template["channels"]
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        _fail(path, f"{where}/images", f"should be a float tensor, is {_kind(images)}")
    if images.numel() and (
        images.ndim != 4 or images.shape[0] > value["size"] or images.shape[1] != channels
    ):
        _fail(path, f"{where}/images", f"should be up to {value['size']} images of "
              f"{channels} channels, is {_kind(images)}")  # fmt: skip
    _random_state(path, f"{where}/rng", value["rng"])


def _random_state(path: Path, where: str, value) -> None:
    """Python's ``random.getstate()``: (version, 625 words, gauss_next)."""
    ok = isinstance(value, list | tuple) and len(value) == 3 and is_int(value[0])
    words = value[1] if ok else None
    ok = ok and isinstance(words, list | tuple) and len(words) == 625
    ok = ok and all(is_int(w) and 0 <= w < 2**32 for w in words) and words[-1] <= 624
    if not ok or not (value[2] is None or isinstance(value[2], float)):
        _fail(path, where, "is not a saved random-number state")


def _rng(path: Path, where: str, value, template) -> None:
    if not isinstance(value, dict) or "torch" not in value or not set(value) <= {"torch", "cuda"}:
        _fail(path, where, "should hold the 'torch' (and 'cuda') random-number states")
    _like(path, f"{where}/torch", value["torch"], template["torch"])
    cuda = value.get("cuda", [])
    if not isinstance(cuda, list | tuple) or not all(
        isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.ndim == 1 for t in cuda
    ):
        _fail(path, f"{where}/cuda", "should be a list of byte tensors")


def _validation(path: Path, where: str, value, template) -> None:
    """Validation's record (``watch.py``): each known field of its kind when present."""
    if not isinstance(value, dict):
        _fail(path, where, f"should be a dictionary, is {_kind(value)}")
    whole = ("best_step", "since_best", "last_step", "count")
    numbers = ("best_score", "last_cost", "seconds", "run_seconds")
    for key, item in value.items():
        good = (
            (key in whole and is_int(item))
            or (key in numbers and is_number(item))
            or (key == "best_metric" and isinstance(item, str))
        )
        if not good:
            _fail(path, f"{where}/{key}", f"is {_kind(item)}, which does not fit")


def _count(path: Path, where: str, value, template) -> None:
    if not is_int(value) or value < (1 if where == "world" else 0):
        _fail(path, where, f"should be a whole number, is {value!r}")


_RULES = {
    "step": _step,
    "rng": _rng,
    "validation": _validation,
    "n_a": _count,
    "n_b": _count,
    "world": _count,
}


def state_template(state: dict, step, channels: dict[str, int]) -> dict:
    """A fresh run's ``state_dict`` with what the checks need besides: each optimizer's
    parameter shapes by index, each pool's channel count (``channels``: by pool name)."""
    template = dict(state)
    template["step"] = dict(state["step"])
    for key, opt in (("opt_g", step.opt_g), ("opt_d", step.opt_d)):
        params = [p for group in opt.param_groups for p in group["params"]]
        shapes = {i: tuple(p.shape) for i, p in enumerate(params)}
        template["step"][key] = {**state["step"][key], "shapes": shapes}
    for key, count in channels.items():
        template["step"][key] = {**state["step"][key], "channels": count}
    return template
