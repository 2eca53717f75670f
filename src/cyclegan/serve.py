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
network's multiple and cropped back; tiled when the server was started with
``tile``). Uploads are decoded as files are (``imageio.load_image``: 16-bit colour
TIFFs at full depth). Bad requests are answered with a message and a 4xx status,
never a traceback: 400 for a body that is not an image or a direction the model lacks,
413 for an upload over ``max_upload_mb`` or ``max_pixels``. One translation runs
at a time: the model's threads already use every core.
"""

from __future__ import annotations

import io
import threading
import time
from importlib import resources
from urllib.parse import unquote

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cyclegan.errors import ConfigError, DataError
from cyclegan.imageio import array_to_pil, array_to_tensor, load_image, tensor_to_array
from cyclegan.translate import Translator

MAX_UPLOAD_MB = 50
MAX_PIXELS = 40_000_000


def create_app(
    translator: Translator,
    tile: int | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
    max_pixels: int = MAX_PIXELS,
) -> FastAPI:
    app = FastAPI(title="cyclegan serve", docs_url=None, redoc_url=None)
    page = resources.files("cyclegan").joinpath("serve_page.html").read_text()
    lock = threading.Lock()

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
            "max_upload_mb": max_upload_mb,
            "max_pixels": max_pixels,
        }

    @app.post("/api/translate")
    async def translate(request: Request, direction: str = Query("AtoB")) -> Response:
        declared = request.headers.get("content-length")
        if declared and int(declared) > max_upload_mb * 2**20:
            return _error(413, f"upload of {int(declared)} bytes is over {max_upload_mb} MB")
        body = await request.body()
        if len(body) > max_upload_mb * 2**20:
            return _error(413, f"upload of {len(body)} bytes is over {max_upload_mb} MB")
        name = unquote(request.headers.get("x-filename", "upload"))
        try:
            translator.generator(direction)  # a direction this model lacks: say so first
            pixels = load_image(body, translator.channels(direction)[0], max_pixels, name)
            x = array_to_tensor(pixels)[None]
            with lock:
                start = time.perf_counter()
                y = translator.translate_tensor(x, direction, tile=tile)
                seconds = time.perf_counter() - start
        except ConfigError as exc:
            return _error(400, str(exc))
        except DataError as exc:  # a too-large image is named a possible decompression bomb
            return _error(413 if "decompression bomb" in str(exc) else 400, str(exc))
        png = io.BytesIO()
        array_to_pil(tensor_to_array(y[0])).save(png, format="PNG")
        return Response(
            png.getvalue(),
            media_type="image/png",
            headers={"X-Seconds": f"{seconds:.3f}", "X-Size": f"{x.shape[-1]}x{x.shape[-2]}"},
        )

    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def serve(app: FastAPI, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
