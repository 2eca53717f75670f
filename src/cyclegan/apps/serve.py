"""``cyclegan serve``: a web page that translates the images people drop on it.

A small FastAPI app over one ``Translator``: the page (``serve_page.html``, plain
HTML and JavaScript, nothing fetched from the internet) and the JSON/PNG API
it calls, which scripts can call too:

========================================  ==========================================
GET  /                                    the page
GET  /api/model                           model source, directions, network, device
POST /api/translate?direction=AtoB        body: an image file's bytes; answer: PNG
========================================  ==========================================

The translation has the upload's size (``translate`` semantics: padded to the
network's multiple and cropped back), in blended tiles of ``SERVE_TILE`` (or
``tile``) pixels when larger, so that one translation's memory is bounded by the
pixel cap: about 100 bytes a pixel for the image's own copies (decoded, float,
output, encoded) plus one tile's activations (docs/benchmarks.md, "serve"). An
upload over ``max_pixels`` is refused from its header, before it is decoded.
Uploads are decoded as files are (``imageio.load_image``: 16-bit colour
TIFFs at full depth). Bad requests are answered with a message and a 4xx status,
never a traceback: 400 for a body that is not an image or a direction the model lacks,
413 for an upload over ``max_upload_mb`` (counted as it streams in) or ``max_pixels``,
503 with Retry-After when ``queue`` translations already wait, 503 when the device
runs out of memory. One translation runs at a time, in a worker thread (the model's
threads already use every core), so the page and the API answer meanwhile; on a GPU
the uploads of one size that waited behind it run as one batch next
(``batching.SharedBatches``). Who may connect: ``webguard.py``; clients that hold a
connection and send nothing are closed: ``httpserver.py``.
"""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from importlib import resources
from urllib.parse import unquote

import anyio.to_thread
import torch
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cyclegan.apps import httpserver
from cyclegan.apps.webguard import guard
from cyclegan.data.imageio import array_to_pil, array_to_tensor, load_image, tensor_to_array
from cyclegan.errors import ConfigError, DataError, TooLarge
from cyclegan.inference.batching import SharedBatches
from cyclegan.inference.translate import Translator
from cyclegan.settings import Server, Tiling

MAX_UPLOAD_MB = 50
SERVE_TILE = 512  # uploads larger than this on a side are translated in blended tiles


def create_app(
    translator: Translator,
    tiling: Tiling | None = None,
    server: Server | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
) -> FastAPI:
    """The app; ``serve`` puts it behind ``webguard`` (hosts, origins, token, body size).
    Translations run one at a time in a worker thread, so the page and the API stay
    answerable meanwhile; ``server.queue`` more may wait, and the one after that is
    answered 503 at once, with Retry-After.

    Longer than most functions, on purpose: FastAPI's routes are closures over the
    app's state (translator, lock, queue places), and they read best together."""
    tiling, server = tiling or Tiling(), server or Server()
    if tiling.tile is None:  # always tiled: one upload's memory stays bounded (the doc)
        tiling = dataclasses.replace(tiling, tile=SERVE_TILE)
    tile, max_pixels, queue = tiling.tile, server.max_pixels, server.queue
    if not max_upload_mb > 0:
        raise ConfigError(f"serve: max_upload_mb ({max_upload_mb}) must be positive")
    if tile is not None:  # now, not as a 5xx on every large upload
        translator.check_tiling(tile, tiling.tile_overlap, tiling.tile_stats_size)
    for label, domain in translator.domains.items():
        if domain.raster:
            raise ConfigError(
                f"{translator.source}: domain {label} holds {domain.describe()}; the web page "
                "translates pictures. Translate rasters with cyclegan translate"
            )
    app = FastAPI(title="cyclegan serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.max_body = int(max_upload_mb * 2**20)  # what serve() lets webguard enforce
    page = resources.files("cyclegan.apps").joinpath("serve_page.html").read_text()
    # One batch on the device at a time; on a GPU the uploads that wait go together.
    batches = SharedBatches(
        lambda x, direction: translator.translate_tensor(x, direction, **tiling.arguments),
        together=translator.device.type == "cuda",
    )
    app.state.batches = batches  # its record of batch sizes: for tests and benchmarks
    places = threading.BoundedSemaphore(1 + queue)  # the one running, and those waiting

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/model")
    def model() -> dict:
        return {
            "source": translator.source,
            "directions": list(translator.directions),
            "network": translator.network.__dict__,
            "device": str(translator.device),
            "precision": translator.precision,
            "tile": tile,
            "scale": translator.scale.scale,
            "max_upload_mb": max_upload_mb,
            "max_pixels": max_pixels,
        }

    def work(body: bytes, direction: str, name: str) -> tuple[bytes, float, str]:
        """Decode, translate, encode: in a worker thread; one batch on the device at a
        time (``SharedBatches``)."""
        pixels = load_image(body, translator.channels(direction)[0], max_pixels, name)
        x = array_to_tensor(pixels)[None]
        start = time.perf_counter()  # waiting for the device included
        y = batches(x, direction, alone=max(x.shape[-2:]) > tile)  # tiled: one by one
        seconds = time.perf_counter() - start
        png = io.BytesIO()
        array_to_pil(tensor_to_array(y[0])).save(png, format="PNG")
        return png.getvalue(), seconds, f"{x.shape[-1]}x{x.shape[-2]}"

    @app.post("/api/translate")
    async def translate(request: Request, direction: str = Query("AtoB")) -> Response:
        body = await request.body()  # webguard has counted it against max_upload_mb
        name = unquote(request.headers.get("x-filename", "upload"))[:200]
        try:
            translator.generator(direction)  # a direction this model lacks: say so first
        except ConfigError as exc:
            return _error(400, str(exc))
        if not places.acquire(blocking=False):
            return JSONResponse(
                {"detail": f"busy: {1 + queue} translations running or waiting; try again"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        try:
            png, seconds, size = await anyio.to_thread.run_sync(work, body, direction, name)
        except DataError as exc:  # TooLarge: refused from its header, never decoded
            return _error(413 if isinstance(exc, TooLarge) else 400, str(exc))
        except torch.OutOfMemoryError:  # after a batch's retry one by one (batching.py)
            return _error(503, "the device ran out of memory for this image; send a smaller "
                          "one, or restart the server with a smaller --tile")  # fmt: skip
        finally:
            places.release()
        return Response(
            png, media_type="image/png", headers={"X-Seconds": f"{seconds:.3f}", "X-Size": size}
        )

    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def serve(
    app: FastAPI,
    host: str,
    port: int,
    token: str | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> None:
    """Run the app behind ``webguard``, with the upload limit it was created with."""
    guarded = guard(app, host, token, allowed_hosts, app.state.max_body)
    httpserver.run(guarded, host, port)
