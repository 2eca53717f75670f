"""Both web servers under hostile requests (issue "Hardened"): no 5xx, every 4xx with a
reason, no foreign host or origin let in, a token when asked, bodies counted as they
stream, and translations that never block the page."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from urllib.parse import quote

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install '.[serve]')")

from conftest import DirectClient, guarded_client, served  # noqa: E402
from cyclegan.apps.serve import create_app as translation_app  # noqa: E402
from cyclegan.apps.webguard import exposure_warning, guard  # noqa: E402
from cyclegan.curate.scan import scan  # noqa: E402
from cyclegan.curate.server import MAX_BODY  # noqa: E402
from cyclegan.curate.server import create_app as labeling_app  # noqa: E402
from cyclegan.curate.store import Project  # noqa: E402
from cyclegan.inference.translate import load_translator  # noqa: E402
from cyclegan.settings import Server  # noqa: E402

BIG = 2**63


def _png(size=(40, 30), seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    pile = root / "pile"
    pile.mkdir()
    for i in range(6):
        (pile / f"img_{i}.png").write_bytes(_png((80, 70), seed=i))
    (pile / "copy.png").write_bytes((pile / "img_0.png").read_bytes())  # a duplicate
    (pile / "broken.png").write_bytes(b"not a png")  # rejected
    p = Project.create(root / "proj", pile, calibration_size=0, min_size=32)
    scan(p)
    p.open_production()
    return p


@pytest.fixture(scope="module")
def translator(tiny_run):
    return load_translator(tiny_run, device="cpu", precision="fp32")


def _ids(project, status):
    with project.connect() as db:
        return [r["id"] for r in db.execute("SELECT id FROM images WHERE status = ?", (status,))]


# --- the labeling server ----------------------------------------------------------------


def test_ids_beyond_64_bits_and_non_finite_numbers_are_4xx(project):
    client = guarded_client(labeling_app(project), MAX_BODY)
    for path in (f"/api/image/{BIG}", f"/api/image/{2**70}", "/api/image/-1", "/api/image/x"):
        r = client.get(path)
        assert r.status_code == 422 and r.json()["detail"], path
    for body in (
        f'{{"image_id": {BIG}, "labeler": "ann", "choice": "A"}}',
        '{"image_id": NaN, "labeler": "ann", "choice": "A"}',
        '{"image_id": 1e400, "labeler": "ann", "choice": "A"}',
        '{"image_id": true, "labeler": "ann", "choice": "A"}',
        '{"audit_id": -Infinity, "labeler": "ann", "choice": "A"}',
    ):
        for endpoint in ("/api/label", "/api/audit", "/api/review"):
            r = client.post(endpoint, content=body, headers={"content-type": "application/json"})
            assert r.status_code == 422 and r.json()["detail"], (endpoint, body, r.text)


def test_a_chunked_body_over_the_limit_is_refused(project):
    client = guarded_client(labeling_app(project), MAX_BODY)

    def chunks():
        for _ in range(40):  # 20 MB in all, with no Content-Length
            yield b"x" * (512 * 1024)

    r = client.post("/api/label", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over" in r.json()["detail"]


def test_only_usable_images_take_labels_and_only_as_many_as_wanted(project):
    client = guarded_client(labeling_app(project), MAX_BODY)
    for bad in _ids(project, "rejected") + _ids(project, "duplicate"):
        r = client.post("/api/label", json={"image_id": bad, "labeler": "ann", "choice": "A",
                                            "key": KEY})  # fmt: skip
        assert r.status_code == 409 and "not in the pile" in r.json()["detail"]
    target = _ids(project, "ok")[-1]
    answers = [
        client.post(
            "/api/label", json={"image_id": target, "labeler": f"l{i}", "choice": "A", "key": KEY}
        )  # fmt: skip
        for i in range(8)
    ]
    assert [a.status_code for a in answers].count(200) == 1  # one label wanted per image
    assert all("already has" in a.json()["detail"] for a in answers if a.status_code == 409)
    assert len(project.labels_of(target)) == 1


def test_only_the_browser_that_labeled_can_undo(project):
    client = guarded_client(labeling_app(project), MAX_BODY)
    image = _ids(project, "ok")[0]
    mine, theirs = "k" * 32, "z" * 32
    r = client.post(
        "/api/label", json={"image_id": image, "labeler": "eve", "choice": "B", "key": mine}
    )
    assert r.status_code == 200
    r = client.post("/api/undo", json={"labeler": "eve", "key": theirs})
    assert r.status_code == 403 and "another browser" in r.json()["detail"]
    r = client.post("/api/undo", json={"labeler": "eve"})
    assert r.status_code == 422 and "key" in r.json()["detail"]  # no key, no undo
    assert client.post("/api/undo", json={"labeler": "eve", "key": mine}).json() == {
        "image_id": image
    }


KEY = "k" * 32  # a labeling browser's key


def _pile_project(root, count):
    pile = root / "pile"
    pile.mkdir(parents=True)
    for i in range(count):
        (pile / f"img_{i}.png").write_bytes(_png((80, 70), seed=100 + i))
    p = Project.create(root / "proj", pile, calibration_size=0, min_size=32)
    scan(p)
    p.open_production()
    return p


def test_a_foreign_page_cannot_lease_the_queue(tmp_path):
    """Leasing changes state, so it is a POST checked for the page's origin: the
    cross-site GETs that once leased 55 of 60 images now lease none, and the real
    labeler still gets work."""
    project = _pile_project(tmp_path, 12)
    client = guarded_client(labeling_app(project), MAX_BODY)
    foreign = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    for i in range(60):
        r = client.get("/api/next", params={"labeler": f"x{i}"}, headers=foreign)
        assert r.status_code in (403, 405), r.status_code
        body = {"labeler": f"x{i}", "key": f"{i:032d}"}
        r = client.post("/api/next", json=body, headers=foreign)
        assert r.status_code == 403, r.status_code
    with project.connect() as db:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
    item = client.post("/api/next", json={"labeler": "ann", "key": KEY}).json()
    assert item["done"] is False


def test_a_browser_key_holds_one_lease(tmp_path):
    """Asking again with the same key moves its lease; it never piles up leases."""
    project = _pile_project(tmp_path, 12)
    client = guarded_client(labeling_app(project), MAX_BODY)
    for i in range(30):
        r = client.post("/api/next", json={"labeler": f"name{i}", "key": KEY})
        assert r.status_code == 200
    with project.connect() as db:
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 1
    other = client.post("/api/next", json={"labeler": "bob", "key": "b" * 32}).json()
    assert other["done"] is False  # 11 images are still free for everyone else


def test_a_label_made_without_a_key_is_not_undone_by_a_name(tmp_path):
    """A label from Python without a key (or from before keys) cannot be undone over
    HTTP by whoever knows the labeler's name."""
    project = _pile_project(tmp_path, 3)
    image = project.next_image("eve")
    project.add_label(image, "eve", "A")
    client = guarded_client(labeling_app(project), MAX_BODY)
    r = client.post("/api/undo", json={"labeler": "eve", "key": KEY})
    assert r.status_code == 403
    assert len(project.labels_of(image)) == 1


# Any JSON value: what a fuzzer (or a confused script) sends.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "image_id": JSON,
        "audit_id": JSON,
        "labeler": JSON,
        "choice": st.sampled_from(["A", "B", "neither", ""]) | JSON,
        "key": JSON,
    },
)


@pytest.fixture
def labeling_client(project):
    """One client (and one event loop) for all of a test's examples: what a server
    answers does not depend on which connection asked, and a client per example made
    the fuzzing mostly start-up."""
    client = DirectClient(labeling_app(project), MAX_BODY)
    yield client
    client.close()


@pytest.fixture
def upload_client(translator):
    client = DirectClient(translation_app(translator, server=Server(max_pixels=10_000)), 4096)
    yield client
    client.close()


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.slow
@given(
    endpoint=st.sampled_from(["/api/label", "/api/undo", "/api/review", "/api/audit"]),
    body=FIELDS | JSON,
    path_id=st.integers(min_value=-(2**80), max_value=2**80) | st.text(max_size=20),
    labeler=st.text(max_size=40),
)
def test_fuzzed_labeling_requests_never_get_a_5xx(
    labeling_client, endpoint, body, path_id, labeler
):
    client = labeling_client
    text = json.dumps(body, allow_nan=True)
    answers = [
        client.post(endpoint, content=text, headers={"content-type": "application/json"}),
        client.get(f"/api/image/{quote(str(path_id), safe='')}"),
        client.post("/api/next", json={"labeler": labeler, "key": KEY}),
    ]
    for r in answers:
        assert r.status_code < 500, (endpoint, text, r.status_code, r.text)
        if r.status_code >= 400:
            assert r.json()["detail"], r.text


# --- the translation server ------------------------------------------------------------


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.slow
@given(
    body=st.binary(max_size=2000) | st.sampled_from([_png((9, 9)), _png((9, 9))[:60]]),
    direction=st.text(max_size=12) | st.sampled_from(["AtoB", "BtoA"]),
    name=st.text(max_size=40),
)
def test_fuzzed_uploads_never_get_a_5xx(upload_client, body, direction, name):
    r = upload_client.post(
        "/api/translate",
        params={"direction": direction},
        content=body,
        headers={"X-Filename": quote(name)},
    )
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 400:
        assert r.json()["detail"]


class _Gated(torch.nn.Module):
    """An identity generator that waits for the test to let it finish: a stand-in for a
    large image, with no race against the clock. ``running`` is set once it has begun."""

    def __init__(self, release: threading.Event, running: threading.Event):
        super().__init__()
        self.release, self.running = release, running

    def forward(self, x):
        self.running.set()
        assert self.release.wait(60), "the test never released the translation"
        return x


def _gated_translator(translator):
    from cyclegan.inference.translate import Translator

    release, running = threading.Event(), threading.Event()
    gens = {d: _Gated(release, running) for d in translator.directions}
    gated = Translator(translator.network, gens, torch.device("cpu"), "gated", "fp32")
    return gated, release, running


def test_translations_run_off_the_event_loop_and_excess_gets_503(translator):
    import httpx

    gated, release, running = _gated_translator(translator)
    app = guard(translation_app(gated, server=Server(queue=0)), "127.0.0.1", None, (), 2**20)
    with served(app) as url:
        results = {}

        def upload():
            results["first"] = httpx.post(url + "api/translate", content=_png(), timeout=60)

        worker = threading.Thread(target=upload)
        worker.start()
        assert running.wait(60)  # the first translation is running now, and stays so
        # Answered while that translation is held: the event loop is free. (Blocked,
        # the page would wait for the release that only comes after it.)
        page = httpx.get(url, timeout=30)
        busy = httpx.post(url + "api/translate", content=_png(), timeout=30)
        assert not release.is_set()
        release.set()
        worker.join()
    assert page.status_code == 200
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert results["first"].status_code == 200


def test_an_oversized_stream_is_cut_off_at_the_limit_not_read_to_its_end(translator):
    app = guard(translation_app(translator), "127.0.0.1", None, (), 10_000)
    with served(app) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/translate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"x" * 8192
            for _ in range(2):  # 16 KiB of an endless stream: the server answers now
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_client_that_hangs_up_mid_upload_leaves_no_traceback(translator, capfd):
    app = guard(translation_app(translator), "127.0.0.1", None, (), 2**20)
    with served(app) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
                + b"x" * 1000
            )
        time.sleep(0.5)
    assert "Traceback" not in capfd.readouterr().err


@pytest.fixture
def short_deadlines(monkeypatch):
    """The servers' deadlines (10 s) shortened, so the tests wait less."""
    from cyclegan.apps.httpserver import DeadlineProtocol

    monkeypatch.setattr(DeadlineProtocol, "head_seconds", 1.0)
    monkeypatch.setattr(DeadlineProtocol, "silence_seconds", 1.0)


def _closed_within(sock, seconds: float) -> bool:
    """Whether the server closes ``sock`` (reads give b"" or a reset) in time."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_idle_and_trickling_connections_are_closed_and_the_page_answers(
    translator, short_deadlines
):
    """200 connections that send nothing, and one that sends a request head a byte at a
    time: the page answers at once meanwhile, and the server closes all of them."""
    import urllib.request

    app = guard(translation_app(translator), "127.0.0.1", None, (), 2**20)
    with served(app) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(200)]
        try:
            with urllib.request.urlopen(url, timeout=5) as page:  # answered while they wait
                assert page.status == 200
            with socket.create_connection(("127.0.0.1", port), timeout=10) as trickle:
                head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
                start, cut = time.monotonic(), False
                for byte in head:  # one byte each 0.2 s: never silent for 1 s
                    try:
                        trickle.sendall(bytes([byte]))
                    except (BrokenPipeError, ConnectionResetError):
                        cut = True
                        break
                    time.sleep(0.2)
                assert cut or _closed_within(trickle, 3.0)  # the head took too long in all
                assert time.monotonic() - start < 10
            assert all(_closed_within(sock, 3.0) for sock in idle)
        finally:
            for sock in idle:
                sock.close()


def test_a_long_translation_is_not_cut_by_the_deadlines(translator, short_deadlines, monkeypatch):
    """The deadlines apply while the server waits for the client, never while it works."""
    import urllib.request

    slow = translator.translate_tensor

    def slower(*args, **kwargs):
        time.sleep(2.5)  # longer than both deadlines
        return slow(*args, **kwargs)

    monkeypatch.setattr(translator, "translate_tensor", slower)
    app = guard(translation_app(translator), "127.0.0.1", None, (), 2**20)
    with served(app) as url:
        request = urllib.request.Request(
            url + "api/translate?direction=AtoB", data=_png(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200 and answer.read().startswith(b"\x89PNG")


def test_an_upload_over_the_pixel_cap_is_refused_from_its_header(translator):
    """A flat 6000 x 6600 PNG of 50 KB: refused with 413 before any decoding; the
    default cap is 4096 x 4096 (docs/benchmarks.md measures one translation's memory)."""
    flat = io.BytesIO()
    Image.new("RGB", (6000, 6600), (120, 60, 30)).save(flat, format="PNG")
    assert len(flat.getvalue()) < 200_000
    client = guarded_client(translation_app(translator), 2**20)
    r = client.post("/api/translate?direction=AtoB", content=flat.getvalue())
    assert r.status_code == 413 and "6000x6600" in r.json()["detail"], r.text
    assert Server().max_pixels == 4096 * 4096


def test_large_uploads_are_tiled_by_default(translator):
    client = guarded_client(translation_app(translator), 2**20)
    assert client.get("/api/model").json()["tile"] == 512


# --- both servers ----------------------------------------------------------------------


@pytest.fixture(params=["labeling", "translation"])
def any_app(request, project, translator):
    if request.param == "labeling":
        return labeling_app(project), "/api/progress", "/api/undo", {"labeler": "x", "key": KEY}
    return translation_app(translator), "/api/model", "/api/translate", None


def test_foreign_hosts_and_origins_are_refused(any_app):
    app, read, write, body = any_app
    client = guarded_client(app, 2**20)
    assert client.get(read).status_code == 200
    r = client.get(read, headers={"Host": "attacker.example"})
    assert r.status_code == 400 and "not allowed" in r.json()["detail"]
    content = json.dumps(body).encode() if body else _png()
    for headers in (
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        r = client.post(write, content=content, headers=headers)
        assert r.status_code == 403 and "cross-origin" in r.json()["detail"], headers
    kind = "application/json" if body else "image/png"
    same = client.post(
        write, content=content, headers={"Origin": "http://testserver", "Content-Type": kind}
    )
    assert same.status_code < 400, same.text
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


def test_a_token_is_required_when_set_and_the_page_sets_its_cookie(any_app):
    app, read, _, _ = any_app
    client = guarded_client(app, 2**20, token="s3cret-token")
    r = client.get("/")
    assert r.status_code == 401 and "?token=" in r.text
    assert client.get(read).status_code == 401
    assert client.get(read, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(read, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert client.get("/?token=s3cret-token").status_code == 200  # sets the cookie
    assert client.get(read).status_code == 200  # the browser is in


def test_exposure_without_a_token_is_warned_about():
    assert "WARNING" in exposure_warning("0.0.0.0", None)
    assert exposure_warning("0.0.0.0", "t") is None
    assert exposure_warning("127.0.0.1", None) is None and exposure_warning("::1", None) is None


@pytest.mark.slow
def test_under_load_pages_stay_fast_excess_gets_503_and_nothing_is_mixed_up(translator):
    """12 uploads at once, each a different image, against a translator held busy until
    the test lets it go and returning its input (so every answer shows whose upload it
    was), with 3 places to wait: 4 are taken, 8 get 503 at once; meanwhile the page
    answers again and again (no clock: it answers while they are held, or never); then
    the 4 finish, each with its own image."""
    import httpx

    gated, release, _ = _gated_translator(translator)
    app = guard(translation_app(gated, server=Server(queue=3)), "127.0.0.1", None, (), 2**20)
    uploads = [_png((24 + i, 20), seed=i) for i in range(12)]
    answers: dict[int, httpx.Response] = {}
    pages = 0
    with served(app) as url:

        def upload(i):
            answers[i] = httpx.post(url + "api/translate", content=uploads[i], timeout=60)

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while True:  # the page, again and again, while 4 translations are held
            assert httpx.get(url, timeout=30).status_code == 200
            pages += 1
            if len(answers) >= 8:
                break
            assert time.monotonic() < deadline, answers
            time.sleep(0.05)
        release.set()
        for t in threads:
            t.join()
    codes = sorted(a.status_code for a in answers.values())
    assert codes == [200] * 4 + [503] * 8, codes
    assert pages >= 1  # each answered before the held translations were released
    for i, answer in answers.items():
        if answer.status_code == 200:  # the identity translation of this very upload
            got = np.asarray(Image.open(io.BytesIO(answer.content)))
            assert np.array_equal(got, np.asarray(Image.open(io.BytesIO(uploads[i])))), i
        else:
            assert answer.headers["retry-after"] == "5" and "busy" in answer.json()["detail"]


def test_the_token_from_the_environment_is_read_when_the_command_runs(monkeypatch):
    """The parser is built once a process; $CYCLEGAN_TOKEN is read when a server starts."""
    from cyclegan.cli.main import build_parser
    from cyclegan.cli.options import access_token

    monkeypatch.delenv("CYCLEGAN_TOKEN", raising=False)
    args = build_parser().parse_args(["serve", "--model", "run"])
    assert access_token(args) is None
    monkeypatch.setenv("CYCLEGAN_TOKEN", "from-the-environment")
    assert access_token(args) == "from-the-environment"
    given = build_parser().parse_args(["curate", "label", "p", "--token", "given"])
    assert access_token(given) == "given"
