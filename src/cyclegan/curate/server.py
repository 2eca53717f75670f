"""The labeling page: a small FastAPI app over a curation project, for 127.0.0.1.

One page (``page.html``, plain HTML and JavaScript, nothing from the internet)
in three modes: ``label`` (the default), ``review`` (decide disagreements) and
``audit`` (confirm or correct a random sample). The JSON API it calls:

=======================  ======================================================
GET  /api/config         taxonomy, mode, phase, labels per image
POST /api/next           {labeler, key}: the next item in the mode, or done; in
                         label mode it leases the image to that browser key (one
                         lease a key: asking again moves it)
POST /api/label          {image_id, labeler, choice, key}
POST /api/undo           {labeler, key}: removes the newest label made with that
                         key, returns its image
POST /api/review         {image_id, labeler, choice, key}
POST /api/audit          {audit_id, labeler, choice}
GET  /api/progress       counts for the progress bar
GET  /api/image/{id}     the cached JPEG view of an image
=======================  ======================================================

Bad requests get 4xx answers with a message: 404 for an unknown image or audit
item, 422 for a malformed body or a choice outside the taxonomy, 409 for a label
the image cannot take (the labeler's second, one over the labels wanted, an image
that is rejected or a duplicate), 403 for an undo from another browser than the
label's, 413 for a body over 16 KiB (counted as it streams in). Every request that
changes anything (a lease included) is a POST, which ``webguard.py`` checks for the
page's own origin and the token; GETs only read.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import FastAPI, Request
from fastapi import Path as FastAPIPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from cyclegan.apps import httpserver
from cyclegan.apps.webguard import guard
from cyclegan.curate.store import Conflict, CurationError, Forbidden, NotFound, Project

MAX_BODY = 16 * 1024
STATUS = {NotFound: 404, Conflict: 409, Forbidden: 403}  # any other CurationError: 422
MODES = ("label", "review", "audit")


MAX_ID = 2**63 - 1  # SQLite's integers are 64-bit
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]  # strict: JSON's true is not 1
Name = Annotated[str, Field(min_length=1, max_length=100)]
# The labeling page's random key for its labeler (kept in the browser): only the browser
# that made a label can undo it. A name is not an identity.
Key = Annotated[str, Field(min_length=16, max_length=200)]


class LabelIn(BaseModel):
    image_id: Id
    labeler: Name
    choice: str = Field(min_length=1, max_length=50)
    key: Key


class WhoIn(BaseModel):
    """Who asks: the next item, an undo."""

    labeler: Name
    key: Key


class AuditIn(BaseModel):
    audit_id: Id
    labeler: Name
    choice: str = Field(min_length=1, max_length=50)


def _progress(project: Project) -> dict:
    p = project.progress()
    return {
        "phase": p.phase,
        "images": p.images_ok,
        "complete": p.labeled_complete,
        "labels": p.labels,
        "in_review": p.in_review,
        "final": p.final,
        "audit": project.audit_result(),
    }


def create_app(project: Project, mode: str = "label") -> FastAPI:
    """The labeling app (``label``, ``review`` or ``audit`` mode); ``serve`` puts it
    behind ``webguard``.

    Longer than most functions, on purpose: FastAPI's routes are closures over the
    project and the mode, and a reader checks the API best with all of it in one place."""
    if mode not in MODES:
        raise CurationError(f"mode {mode!r}: use one of {', '.join(MODES)}")
    app = FastAPI(title="cyclegan curate", docs_url=None, redoc_url=None, openapi_url=None)
    page = resources.files("cyclegan.curate").joinpath("page.html").read_text()

    @app.exception_handler(CurationError)
    async def refused(request: Request, exc: CurationError):
        return JSONResponse({"detail": str(exc)}, STATUS.get(type(exc), 422))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError):
        # FastAPI's own answer echoes the input, which may be NaN or 1e400: not JSON.
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
        return JSONResponse({"detail": "; ".join(problems)}, 422)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return page

    @app.get("/api/config")
    def config():
        return {
            "taxonomy": project.taxonomy,
            "mode": mode,
            "phase": project.meta("phase"),
            "labels_per_image": project.labels_per_image,
        }

    @app.get("/api/progress")
    def progress():
        return _progress(project)

    @app.post("/api/next")
    def next_item(body: WhoIn):
        labeler = body.labeler
        if not labeler.strip():
            raise CurationError("a labeler name is required")
        if mode == "audit":
            row = project.next_audit()
            if row is None:
                return {"done": True, "message": "audit complete", **_progress(project)}
            return {
                "done": False,
                "audit_id": row["id"],
                "image_id": row["image_id"],
                "current": row["label_before"],
            }
        if mode == "review":
            queue = project.review_queue()
            if not queue:
                return {"done": True, "message": "no disagreements to review"}
            return {"done": False, "image_id": queue[0], "labels": project.labels_of(queue[0])}
        image_id = project.next_image(labeler, body.key)
        if image_id is None:
            message = (
                "calibration batch done: the project owner reviews it, then runs "
                "'cyclegan curate open'"
                if project.meta("phase") == "calibration"
                else "nothing left to label"
            )
            return {"done": True, "message": message}
        suggestion = project.suggestion(image_id)
        return {"done": False, "image_id": image_id, "suggestion": suggestion}

    @app.post("/api/label")
    def label(body: LabelIn):
        project.add_label(body.image_id, body.labeler, body.choice, body.key)
        return {"ok": True, **_progress(project)}

    @app.post("/api/undo")
    def undo(body: WhoIn):
        return {"image_id": project.undo(body.labeler, body.key)}

    @app.post("/api/review")
    def review(body: LabelIn):
        project.review(body.image_id, body.labeler, body.choice)
        return {"ok": True}

    @app.post("/api/audit")
    def audit(body: AuditIn):
        return {"verdict": project.record_audit(body.audit_id, body.labeler, body.choice)}

    @app.get("/api/image/{image_id}")
    def image(image_id: Annotated[int, FastAPIPath(ge=1, le=MAX_ID)]):
        project.image(image_id)  # 404 for unknown ids
        path = project.cache / "views" / f"{image_id}.jpg"
        if not path.is_file():
            raise NotFound(f"image {image_id} has no view (it was rejected or is a duplicate)")
        return FileResponse(path, media_type="image/jpeg")

    return app


def serve(
    project: Project,
    mode: str,
    host: str,
    port: int,
    token: str | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> None:
    guarded = guard(create_app(project, mode), host, token, allowed_hosts, MAX_BODY)
    httpserver.run(guarded, host, port)
