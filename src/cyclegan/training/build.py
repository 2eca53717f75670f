"""Building a training run from its configuration: ``build_run(cfg) -> Run``.

Each part does one job, in this order: claim the run folder (its checks and its
lock), settle the configuration (fresh, or resumed from the latest checkpoint),
join the run's processes and pick the device, find the images and the held-out
validation sample, build the domains, assemble the networks, step and data
(``_assemble``), then restore a checkpoint or write a new run's first files, and
make the loader. What a run is and does once built is ``run.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from cyclegan.config import TrainConfig
from cyclegan.data.datasets import EpochPlan, UnpairedImages, training_images
from cyclegan.data.domain import build_domains
from cyclegan.errors import CheckpointError, ConfigError
from cyclegan.evaluation.validation import validation_sample, write_split
from cyclegan.fields import write_json
from cyclegan.model import distributed
from cyclegan.model.checkpoint import (
    check_writable,
    load_network_config,
    load_weights,
    read_meta,
)
from cyclegan.model.device_setup import DeviceTraits, choose, data_workers
from cyclegan.model.layout import RECORD_FILE, RunFiles, weights_file
from cyclegan.model.networks import CycleGANNetworks
from cyclegan.model.precision import pick_device
from cyclegan.model.reference import load_into
from cyclegan.model.run_checkpoints import (
    is_run_folder,
    latest_checkpoint,
    write_run_options,
)
from cyclegan.model.step import CycleGANStep
from cyclegan.seeds import rank_torch_seed
from cyclegan.training import losslog
from cyclegan.training.resume import resumed_config
from cyclegan.training.run import NETWORK_NAMES, Run, TrainingEvents
from cyclegan.training.runfolder import RunLock, check_fresh_folder


def _start_config(
    cfg: TrainConfig, resume: bool, overrides: dict | None
) -> tuple[TrainConfig, Path | None]:
    """The configuration to train with and the checkpoint to resume from, if any."""
    folder = Path(cfg.run)
    checkpoint = latest_checkpoint(folder)
    if resume:
        if checkpoint is None:
            raise CheckpointError(f"{folder}: no checkpoint to resume from")
        meta = read_meta(checkpoint)
        if "train" not in meta:
            raise CheckpointError(f"{checkpoint}: no training record, so training cannot resume")
        record = checkpoint / RECORD_FILE
        return resumed_config(meta["train"], cfg, overrides or {}, record), checkpoint
    if checkpoint is not None:
        raise ConfigError(
            f"run folder {folder} already has checkpoints; pass --resume to continue "
            "it, or choose a new --run folder"
        )
    return cfg, None


def _build_networks(cfg: TrainConfig, ctx: distributed.Context, resuming: bool):
    torch.manual_seed(cfg.seed)
    nets = CycleGANNetworks(cfg.network)
    nets.init_weights(cfg.network)
    if cfg.init_from and not resuming:
        source = Path(cfg.init_from)
        if load_network_config(source) != cfg.network:
            raise ConfigError(f"option 'init_from': {source} has other network options")
        for name in NETWORK_NAMES:
            path = weights_file(source, name)
            load_into(getattr(nets, name), load_weights(source, name), str(path))
    if ctx.active and cfg.network.norm == "batch":
        nets = nn.SyncBatchNorm.convert_sync_batchnorm(nets)
    return nets


def build_run(
    cfg: TrainConfig,
    events: TrainingEvents | None = None,
    resume: bool = False,
    overrides: dict | None = None,
) -> Run:
    """Everything a run needs, checked and built, resumed when asked; ``events`` (a
    ``TrainingEvents``) hears of image scans, skipped files and notes. The run holds
    its folder's lock until ``Run.close``."""
    lock = _claim_folder(Path(cfg.run), resume)
    try:
        run = _build(cfg, events or TrainingEvents(), resume, overrides)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    run.lock = lock
    return run


def _claim_folder(folder: Path, resume: bool) -> RunLock | None:
    """Check the run folder may be written and take its lock (rank 0 alone, the one
    process that writes it), before any file is made there."""
    if distributed.launched_rank() != 0:
        return None
    if not resume:
        check_fresh_folder(folder)
    elif not is_run_folder(folder):
        raise CheckpointError(f"{folder}: no checkpoint to resume from (not a run folder)")
    check_writable(folder)
    return RunLock(folder).acquire()


def _build(cfg: TrainConfig, events: TrainingEvents, resume: bool, overrides: dict | None) -> Run:
    cfg, checkpoint = _start_config(cfg, resume, overrides)
    cfg.check_trainable()
    ctx, device = _processes(cfg)
    if not ctx.is_main:
        events = TrainingEvents()  # only rank 0 reports
    folders, files = training_images(cfg, events.scanning, events.skipped)
    files, val_files, val_source = validation_sample(cfg, folders, files, events.note)
    cfg, domains = _domains(cfg, files, checkpoint, events)
    run = _assemble(cfg, ctx, device, files, domains, checkpoint is not None)
    run.val_files, run.val_source = val_files, val_source
    if checkpoint is not None:
        run.restore(checkpoint, events.note)
    elif ctx.is_main:
        _start_folder(run)
    if ctx.is_main:
        losslog.trim(run.folder, run.position.global_step, events.note)
        if val_files:
            write_split(run.folder, cfg.data, val_files, val_source)
    run.step.distribute(ctx, device)
    if run.setup.compile:
        run.step.compile(mode=run.setup.compile_mode)
    if ctx.rank > 0:  # own dropout draws; rank 0 keeps the single-process stream
        torch.manual_seed(rank_torch_seed(cfg.seed, ctx.rank, run.position.global_step))
    run.loader = _loader(run)
    return run


def _processes(cfg: TrainConfig) -> tuple[distributed.Context, torch.device]:
    """This process's place among the run's processes, its device and backend settings."""
    ctx, device = distributed.setup(pick_device(cfg.device))
    if ctx.active and cfg.gan_mode == "wgangp":
        raise ConfigError(
            "gan_mode 'wgangp' is not supported with several processes yet: its gradient "
            "penalty differentiates through the discriminator twice, which "
            "DistributedDataParallel does not synchronize; use lsgan or vanilla"
        )
    # Set both ways: a notebook's deterministic fit would otherwise leave every later fit
    # of the process deterministic; and only on a change (the first call costs a second).
    if cfg.deterministic != torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(cfg.deterministic)
    return ctx, device


def _assemble(cfg, ctx, device, files: dict, domains: dict, resuming: bool) -> Run:
    """The networks, the step, the dataset and its epoch plan, as a ``Run`` at step 0."""
    # Precision, TF32, cuDNN autotuning, Adam's kernel, memory format: device_setup.py.
    setup = choose(DeviceTraits.probe(device), cfg.precision, cfg.deterministic,
                   cfg.channels_last, cfg.compile, cfg.cuda_graphs)  # fmt: skip
    setup.apply()
    nets = _build_networks(cfg, ctx, resuming)
    nets = nets.to(device, memory_format=setup.memory_format).train()
    step = CycleGANStep(nets, cfg, setup.precision, fused=True, rank=ctx.rank, adam=setup.adam)
    dataset = UnpairedImages(files["A"], files["B"], cfg, domains)
    plan = EpochPlan(*dataset.sizes, cfg.batch_size, cfg.seed, ctx.rank, ctx.world)
    run = Run(cfg, ctx, device, setup.precision, files["A"], files["B"], nets, step, plan)
    run.domains, run.dataset, run.setup = domains, dataset, setup
    return run


def _start_folder(run: Run) -> None:
    """A new run's first files: its options, its band statistics, an empty loss log."""
    files = RunFiles(run.folder)
    files.root.mkdir(parents=True, exist_ok=True)
    write_run_options(files.root, run.cfg)
    for label, domain in run.domains.items():  # reusable by another run: --stats-a FILE
        if domain.raster:
            write_json(files.band_stats(label), domain.stats.to_dict())
    files.loss_log.write_text("")


def _domains(cfg: TrainConfig, files: dict, checkpoint: Path | None, events: TrainingEvents):
    """Each domain (``data/domain.py``): a resumed run keeps its checkpoint's statistics."""
    saved = read_meta(checkpoint).get("domains") if checkpoint is not None else None
    cfg, domains = build_domains(cfg, files, events.note, saved)
    for label, domain in domains.items():
        if domain.raster and saved is None:
            events.note(f"domain {label}: {domain.describe()}")
    if cfg.lambda_identity > 0 and not cfg.identity_active:
        events.note(
            "identity loss turned off: domains A and B have different band counts, "
            "so g_ab(b) cannot be compared with b"
        )
    return cfg, domains


def _loader(run: Run) -> DataLoader:
    cfg = run.cfg
    workers = data_workers(cfg.num_workers, run.device.type)  # device_setup.py
    return DataLoader(
        run.dataset,
        batch_sampler=run.plan,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=run.device.type == "cuda",
        # its own generator: worker seeds must not draw from the
        # global RNG, or a resumed run would drift from an unbroken one
        generator=torch.Generator().manual_seed(cfg.seed),
    )
