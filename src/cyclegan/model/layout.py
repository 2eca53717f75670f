"""The run folder's layout: every name of a file or folder a run writes, here alone
(and the names of a translation's manifest, at the end).

    RUN/
        options.json             every resolved training option (config.json before
                                 2026-12-01)
        .lock                    held by the one process training the run
        losses.jsonl             the loss log                  } crash-safe JSON lines
        validation.jsonl         the validation log            } (model/jsonlog.py)
        validation_split.json    which images validation holds out
        validation/step_00000400.png    its sample grids
        cache/features/          Inception features of the held-out images
        band_stats_a.json        a raster domain's band statistics (also in checkpoints)
        best_checkpoint.json     what ``evaluate --checkpoints all`` chose
        losses.png, validation.png, index.html    the report
        samples/epoch_0005.png   the sample grids
        tensorboard/             with --tensorboard
        checkpoints/
            latest               the newest complete checkpoint's folder name
            best/                the best checkpoint of validation (a copy)
            epoch_0005/          a checkpoint: CHECKPOINT_FILES below

Modules ask ``RunFiles(run)`` for a path rather than spelling a name, so that the
layout can be read, and changed, in this one place; what each file holds belongs
to the module that writes it (named beside each name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Inside a checkpoint folder (model/checkpoint.py, statefile.py).
NETWORK_FILE = "config.json"  # what translating needs, beside the weights
RECORD_FILE = "training.json"  # how the weights were trained and how far
STATE_TREE = "training_state.json"  # the training state's structure (statefile.py)
STATE_TENSORS = "training_state.safetensors"  # ... and its tensors
LEGACY_STATE = "training_state.pt"  # before 2026-11-30: read with torch's safe loader
WEIGHTS_SUFFIX = ".safetensors"
AVERAGED_SUFFIX = "_ema"  # a generator's moving average (model/ema.py): g_ab_ema.safetensors

# In a run's checkpoints/ folder (model/run_checkpoints.py).
LATEST = "latest"
BEST = "best"
TEMPORARY_PREFIX = ".tmp-"  # folders being written; never a checkpoint

# In the run folder itself.
RUN_OPTIONS = "options.json"  # model/run_checkpoints.py
LEGACY_RUN_OPTIONS = "config.json"  # a run folder's options before 2026-12-01
LOCK = ".lock"  # training/runfolder.py


def checkpoint_name(epochs_done: int, batches_done: int, global_step: int) -> str:
    """A checkpoint's folder name: ``epoch_0005`` at an epoch's end, else
    ``epoch_0006_step_00001234`` (the epoch it is in, and the step)."""
    if batches_done == 0:
        return f"epoch_{epochs_done:04d}"
    return f"epoch_{epochs_done + 1:04d}_step_{global_step:08d}"


def weights_file(folder: Path, network: str) -> Path:
    """One network's weights in a checkpoint folder (``g_ab``, ``d_a``, ...)."""
    return Path(folder) / f"{network}{WEIGHTS_SUFFIX}"


def averaged_name(network: str) -> str:
    """The name of a generator's weight average (``--ema``) beside its weights."""
    return f"{network}{AVERAGED_SUFFIX}"


def validation_grid_name(step: int) -> str:
    """A validation sample grid, relative to the run folder (as the report links it)."""
    return f"validation/step_{step:08d}.png"


@dataclass(frozen=True)
class RunFiles:
    """The paths of one run folder's files."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def options(self) -> Path:
        return self.root / RUN_OPTIONS

    @property
    def legacy_options(self) -> Path:
        return self.root / LEGACY_RUN_OPTIONS

    @property
    def lock(self) -> Path:
        return self.root / LOCK

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def latest(self) -> Path:
        """The pointer file naming the newest checkpoint."""
        return self.checkpoints / LATEST

    @property
    def best(self) -> Path:
        return self.checkpoints / BEST

    @property
    def loss_log(self) -> Path:  # training/losslog.py
        return self.root / "losses.jsonl"

    @property
    def validation_log(self) -> Path:  # training/health_report.py
        return self.root / "validation.jsonl"

    @property
    def logs(self) -> tuple[Path, Path]:
        """Both JSON-lines logs: synced together before every checkpoint."""
        return self.loss_log, self.validation_log

    @property
    def validation_split(self) -> Path:  # evaluation/validation.py
        return self.root / "validation_split.json"

    def validation_grid(self, step: int) -> Path:  # training/watch.py
        return self.root / validation_grid_name(step)

    @property
    def features_cache(self) -> Path:  # training/watch.py
        return self.root / "cache" / "features"

    def band_stats(self, side: str) -> Path:  # training/run.py; side: "A" or "B"
        return self.root / f"band_stats_{side.lower()}.json"

    @property
    def best_record(self) -> Path:  # apps/evaluate.py
        return self.root / "best_checkpoint.json"

    @property
    def loss_plot(self) -> Path:  # training/report.py
        return self.root / "losses.png"

    @property
    def validation_plot(self) -> Path:  # training/health_report.py
        return self.root / "validation.png"

    @property
    def report(self) -> Path:  # training/report.py
        return self.root / "index.html"

    @property
    def samples(self) -> Path:  # training/report.py
        return self.root / "samples"

    def sample(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:04d}.png"

    def sample_grids(self) -> list[Path]:
        """The epochs' sample grids, newest first."""
        return sorted(self.samples.glob("epoch_*.png"), reverse=True)

    @property
    def tensorboard(self) -> Path:  # training/trainer.py
        return self.root / "tensorboard"


# A translation's output folder holds the translations (the inputs' names and
# sub-folders) and one folder of its own, the manifest (inference/manifest.py):
#
#   OUT/cyclegan-manifest/
#       job.json                 what decides the pixels (model, options), and the plan
#       lock                     held by the job's first process
#       records.jsonl            what was translated from what, merged at each start
#       records-HOST-PID.jsonl   ... appended by each process of the job running now
#       parts/                   a large raster's row blocks, one per process
MANIFEST_FOLDER = "cyclegan-manifest"


@dataclass(frozen=True)
class ManifestFiles:
    """The paths of a translation's manifest, in its output folder."""

    output: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", Path(self.output))

    @property
    def folder(self) -> Path:
        return self.output / MANIFEST_FOLDER

    @property
    def job(self) -> Path:
        return self.folder / "job.json"

    @property
    def lock(self) -> Path:
        return self.folder / "lock"

    @property
    def records(self) -> Path:
        return self.folder / "records.jsonl"

    def process_records(self, host: str, pid: int) -> Path:
        return self.folder / f"records-{host}-{pid}.jsonl"

    def all_records(self) -> list[Path]:
        """The merged records first, then each process's (rows carry their time)."""
        found = sorted(self.folder.glob("records-*.jsonl"))
        return ([self.records] if self.records.exists() else []) + found

    @property
    def parts(self) -> Path:
        return self.folder / "parts"
