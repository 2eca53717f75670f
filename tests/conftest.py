"""Shared fixtures: where the read-only reference data and datasets live."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import pytest
import torch

# torch.compile's kernel cache on disk is not keyed by the CPU's vector ISA: kernels
# built under one (AVX-512) were seen to give NaN when the suite ran again under
# another (ATEN_CPU_CAPABILITY=avx2). One cache folder per ISA keeps that from CI on a
# machine whose CPU kind changed between sessions.
_ISA = torch.backends.cpu.get_cpu_capability()
os.environ.setdefault(
    "TORCHINDUCTOR_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"cyclegan-inductor-{_ISA}")
)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CYCLEGAN_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference"
DATASETS = SHARED / "datasets"


def need(path: Path) -> Path:
    """Skip, saying why, when a piece of ../shared is not beside the checkout."""
    if not path.exists():
        pytest.skip(f"{path} is absent: the golden data and datasets live in ../shared")
    return path


@pytest.fixture(autouse=True)
def _small_threads():
    # Two cores: keep each test on them without oversubscription surprises.
    torch.set_num_threads(2)
    yield


def write_images(folder: Path, count: int, size=(40, 36), mode="RGB", seed=0, ext="png"):
    """Small random images: enough to exercise the pipeline, cheap to train on."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        channels = {"RGB": 3, "L": 1}[mode]
        arr = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
        img = Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)
        path = folder / f"img_{i:03d}.{ext}"
        img.save(path)
        paths.append(path)
    return paths


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_images(root / "trainA", 4, seed=1)
    write_images(root / "trainB", 5, seed=2)
    write_images(root / "testA", 2, size=(45, 30), seed=3)
    write_images(root / "testB", 2, size=(45, 30), seed=4)
    return root


def tiny_config(data: Path, run: Path, **overrides):
    """A CycleGAN small enough to train in a fraction of a second per step."""
    from cyclegan.config import NetworkConfig, TrainConfig

    network = overrides.pop("network", NetworkConfig(net_g="resnet_6blocks", ngf=4, ndf=4))
    values = dict(
        data=str(data),
        run=str(run),
        network=network,
        load_size=36,
        crop_size=32,
        num_workers=0,
        n_epochs=1,
        n_epochs_decay=1,
        save_epoch_freq=1,
        log_every=1,
        deterministic=True,
        val_images=0,  # validation has tests of its own (test_validation.py)
        # The report (loss curves, sample grids, index.html), redrawn every epoch, was
        # half of a tiny run's time: on where a test looks at it (report=True).
        report=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny model trained for one epoch on generated images, for the tests that only
    read a run (translate, export, serve): trained once per test session."""
    from cyclegan.training.trainer import train

    root = tmp_path_factory.mktemp("tiny_run")
    write_images(root / "data" / "trainA", 3, seed=1)
    write_images(root / "data" / "trainB", 3, seed=2)
    train(tiny_config(root / "data", root / "run", n_epochs=1, n_epochs_decay=0, report=True))
    return root / "run"


# A tiny model on the command line: the CLI spelling of tiny_config's networks, sizes and
# report (none: the tests of a command's report add --report).
TINY_CLI = ["--ngf", "4", "--ndf", "4", "--netG", "resnet_6blocks", "--load-size", "36",
            "--crop-size", "32", "--num-workers", "0", "--no-report"]  # fmt: skip


def launch_chromium(playwright):
    """Debian's Chromium under Playwright (no browser download), quiet on a closed network;
    skips, saying why, when either is missing."""
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return playwright.chromium.launch(
        executable_path=path,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )


@contextlib.contextmanager
def served(app):
    """Run an ASGI app on a free local port in a thread, with the options and deadlines
    the servers run with (``httpserver.py``); yields its URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from cyclegan.apps.httpserver import server_options

    server = uvicorn.Server(uvicorn.Config(app, **server_options("127.0.0.1", port)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def subprocess_env(threads: int = 2) -> dict:
    """The environment for running ``python -m cyclegan`` from the source tree."""
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": str(threads)}


def start_training(cmd: list[str], run: Path, threads: int, rows: int = 2):
    """Start a training command and return once its loss log has ``rows`` rows."""
    import subprocess
    import time

    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(threads)
    )
    log, deadline = run / "losses.jsonl", time.monotonic() + 120
    while not (log.exists() and log.read_text().count("\n") >= rows):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.1)
    return proc


def guarded_client(app, max_body: int, token: str | None = None, **kwargs):
    """A TestClient for an app behind ``webguard``, as ``serve`` runs it; the test
    client's own host name ("testserver") is an allowed host."""
    from fastapi.testclient import TestClient

    from cyclegan.apps.webguard import guard

    return TestClient(guard(app, "127.0.0.1", token, ("testserver",), max_body), **kwargs)


class DirectClient:
    """Requests straight into an ASGI app (``guard`` around a server's app, as in
    ``guarded_client``) on one event loop of this thread, for the fuzz tests that send
    thousands: Starlette's TestClient hands every message of every request between two
    threads, which was most of their time."""

    def __init__(self, app, max_body: int, token: str | None = None):
        import asyncio

        import httpx

        from cyclegan.apps.webguard import guard

        guarded = guard(app, "127.0.0.1", token, ("testserver",), max_body)
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=guarded)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kwargs):
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


def run_main(*args: str):
    """``cyclegan ARGS`` in this process, as a user's shell would run it in a fresh one,
    for the tests where a separate process is not the point (it saves an interpreter's start,
    torch's import included, each time): its exit code, stdout and stderr."""
    import contextlib
    import io
    import types

    from cyclegan.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse's own refusals
            code = stop.code if isinstance(stop.code, int) else 2
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@contextlib.contextmanager
def inception_left_out():
    """Validation as on an install without the metrics extra: cycle L1 alone."""
    from cyclegan.evaluation import validation
    from cyclegan.evaluation.inception import MetricsUnavailable

    def unavailable(*args, **kwargs):
        raise MetricsUnavailable("left out by this test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validation, "InceptionFeatures", unavailable)
        yield


@pytest.fixture(autouse=True)
def _validation_without_inception(request):
    """Validation while training scores cycle L1 alone in every test but those marked
    ``validation_metrics``: what the others check of validation is what it decides and
    records, and its FID/KID's Inception passes were a fifth of the suite's time."""
    if request.node.get_closest_marker("validation_metrics"):
        yield
        return
    with inception_left_out():
        yield
