"""Curation: scan counts and reasons, labeling rules, the API's errors, concurrency, export."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the curate extra is not installed")
pytest.importorskip("imagehash", reason="the curate extra is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from cyclegan.curate.export import export  # noqa: E402
from cyclegan.curate.scan import scan  # noqa: E402
from cyclegan.curate.server import create_app  # noqa: E402
from cyclegan.curate.store import CurationError, NotFound, Project, wilson_interval  # noqa: E402

KEY = "k" * 32  # a labeling browser's key


def _photo(path, seed, size=(96, 80)):
    """A smooth random image: distinct perceptual hashes for distinct seeds."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return img


@pytest.fixture
def pile(tmp_path):
    """10 good images, and one of each problem the scan must catch."""
    root = tmp_path / "pile"
    for i in range(10):
        _photo(root / ("sub" if i % 2 else ".") / f"good_{i}.png", seed=i)
    (root / "exact_copy.png").write_bytes((root / "good_0.png").read_bytes())
    Image.open(root / "good_0.png").resize((120, 100)).save(root / "near_copy.jpg", quality=80)
    (root / "zero.jpg").write_bytes(b"")
    (root / "notes.txt").write_text("not an image")
    (root / "cut.png").write_bytes((root / "good_0.png").read_bytes()[:200])
    Image.new("RGB", (20, 20)).save(root / "tiny.png")
    frames = [Image.new("RGB", (96, 80), c) for c in ("red", "blue")]
    frames[0].save(root / "moving.gif", save_all=True, append_images=frames[1:])
    return root


@pytest.fixture
def project(pile, tmp_path):
    p = Project.create(tmp_path / "proj", pile, calibration_size=3, min_size=32)
    scan(p)
    return p


def test_scan_counts_and_reasons(project, pile):
    with project.connect() as db:
        rows = {r["path"]: dict(r) for r in db.execute("SELECT * FROM images")}
    assert sum(r["status"] == "ok" for r in rows.values()) == 10
    # the first in path order is kept: exact_copy.png sorts before good_0.png
    assert rows["exact_copy.png"]["status"] == "ok"
    assert (
        rows["good_0.png"]["reason"] == f"exact duplicate of image {rows['exact_copy.png']['id']}"
    )
    assert rows["near_copy.jpg"]["reason"].startswith("near duplicate of image")
    assert rows["zero.jpg"]["reason"] == "empty file (0 bytes)"
    assert rows["notes.txt"]["reason"].startswith("'.txt' is not an accepted image file type")
    # what train refuses, curate refuses too (one list of formats): an animated GIF
    assert rows["moving.gif"]["status"] == "rejected"
    assert "'.gif' is not an accepted image file type" in rows["moving.gif"]["reason"]
    assert "truncated" in rows["cut.png"]["reason"]
    assert rows["tiny.png"]["reason"] == "20x20 is below the minimum size 32"
    assert (project.cache / "views").is_dir() and len(
        list((project.cache / "thumbs").iterdir())
    ) == 10
    _photo(pile / "later.png", seed=99)  # a re-scan picks up new files only
    result = scan(project)
    assert (result.added, result.ok) == (1, 1)


def test_calibration_comes_first_then_the_owner_opens_production(project):
    served = []
    while (image_id := project.next_image("ann")) is not None:
        served.append(image_id)
        project.add_label(image_id, "ann", "A")
    assert len(served) == 3  # only the calibration batch
    assert project.calibration_summary() == {"size": 3, "labeled": 3, "choices": {"A": 3}}
    project.open_production()
    assert project.next_image("ann") not in served + [None]


def test_two_labels_per_image_agreement_review_and_audit(pile, tmp_path):
    p = Project.create(tmp_path / "two", pile, calibration_size=0, labels_per_image=2, min_size=32)
    scan(p)
    p.open_production()
    contested = min(r for r in range(1, 30) if _usable(p, r))
    for labeler in ("ann", "bob"):
        while (i := p.next_image(labeler)) is not None:
            p.add_label(i, labeler, "B" if (i == contested and labeler == "bob") else "A")
    assert p.review_queue() == [contested]
    assert p.agreement() == {"images_with_several_labels": 10, "all_agree": 9, "rate": 0.9}
    assert contested not in p.final_labels()
    p.review(contested, "carol", "B")
    assert p.final_labels()[contested] == "B" and p.review_queue() == []
    assert p.start_audit(4, seed=1) == 4
    verdicts = []
    while (row := p.next_audit()) is not None:
        wrong = len(verdicts) == 0  # the reviewer corrects the first one
        verdicts.append(
            p.record_audit(row["id"], "carol", "neither" if wrong else row["label_before"])
        )
    assert verdicts == ["corrected", "confirmed", "confirmed", "confirmed"]
    result = p.audit_result()
    assert result["errors"] == 1 and result["reviewed"] == 4
    assert result["ci95"] == pytest.approx(list(wilson_interval(1, 4)))
    assert "neither" in p.final_labels().values()  # the correction is the final label


def _usable(project, image_id):
    try:
        return project.image(image_id)["status"] == "ok"
    except NotFound:
        return False


def test_wilson_interval_known_values():
    low, high = wilson_interval(1, 200)
    assert low == pytest.approx(0.00088, abs=2e-5) and high == pytest.approx(0.0278, abs=2e-4)
    assert wilson_interval(0, 50)[0] == 0.0


def test_labels_survive_a_restart_of_the_server(project):
    client = TestClient(create_app(project))
    item = client.post("/api/next", json={"labeler": "ann", "key": KEY}).json()
    body = {"image_id": item["image_id"], "labeler": "ann", "choice": "B", "key": KEY}
    assert client.post("/api/label", json=body).status_code == 200
    again = TestClient(create_app(Project.open(project.folder)))  # a new process, same file
    assert again.get("/api/progress").json()["labels"] == 1
    assert Project.open(project.folder).labels_of(item["image_id"])[0]["choice"] == "B"


def test_undo_removes_only_the_newest_label_of_that_labeler(project):
    project.open_production()
    first, second = project.next_image("ann"), None
    project.add_label(first, "ann", "A")
    second = project.next_image("ann")
    project.add_label(second, "ann", "B")
    assert project.undo("ann") == second
    assert project.labels_of(second) == [] and len(project.labels_of(first)) == 1
    assert project.undo("nobody") is None


def test_bad_requests_get_clear_4xx(project):
    from conftest import guarded_client
    from cyclegan.curate.server import MAX_BODY

    client = guarded_client(create_app(project), MAX_BODY)
    ann = {"labeler": "ann", "key": KEY}
    r = client.post("/api/label", json={"image_id": 9999, "choice": "A", **ann})
    assert r.status_code == 404 and "9999" in r.json()["detail"]
    ok_id = client.post("/api/next", json=ann).json()["image_id"]
    r = client.post("/api/label", json={"image_id": ok_id, "choice": "zebra", **ann})
    assert r.status_code == 422 and "zebra" in r.json()["detail"]
    r = client.post("/api/label", json={"image_id": "one", "choice": "A", **ann})
    assert r.status_code == 422
    r = client.post(
        "/api/label", content=b"x" * 20_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert client.get("/api/image/9999").status_code == 404
    client.post("/api/label", json={"image_id": ok_id, "choice": "A", **ann})
    r = client.post("/api/label", json={"image_id": ok_id, "choice": "B", **ann})
    assert r.status_code == 409 and "undo" in r.json()["detail"]
    assert client.post("/api/next", json={"labeler": " ", "key": KEY}).status_code == 422


def test_two_concurrent_labelers_never_lose_a_label(project):
    project.open_production()
    errors, done = [], {}

    def labeler(name):
        try:
            count = 0
            own = Project.open(project.folder)  # each its own connections, as two servers
            while (i := own.next_image(name)) is not None:
                own.add_label(i, name, "A")
                count += 1
            done[name] = count
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=labeler, args=(n,)) for n in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with project.connect() as db:
        stored = db.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
    assert stored == done["ann"] + done["bob"] == 10  # every image once, nothing lost


def test_export_layout_labels_and_summary(project, tmp_path):
    project.open_production()
    choices = ["A", "B", "neither"]
    for n in range(10):
        i = project.next_image("ann")
        project.add_label(i, "ann", choices[n % 3])
    out = tmp_path / "data"
    summary = export(project, out, test_fraction=0.25, seed=3)
    assert summary["final_labels"] == {"A": 4, "B": 3, "neither": 3}
    assert summary["exported"] == {"trainA": 3, "testA": 1, "trainB": 2, "testB": 1}
    assert summary["rejected"] == {
        "empty file": 1,
        "not an accepted format": 2,  # notes.txt and moving.gif
        "truncated": 1,
        "below the minimum size": 1,
    }
    assert len(summary["duplicate_groups"]) == 1
    assert len(summary["duplicate_groups"][0]["duplicates"]) == 2
    labels = json.loads((out / "labels.json").read_text())["images"]
    assert len(labels) == 10 and all(r["labels"][0]["labeler"] == "ann" for r in labels)
    for r in labels:
        if r["exported_to"]:
            assert (out / r["exported_to"]).is_file() and r["final"] in ("A", "B")
    with pytest.raises(CurationError, match="not empty"):
        export(project, out)
    from cyclegan.data.datasets import find_domains

    assert find_domains(out).test_a is not None  # cyclegan train --data works on it


def test_unknown_project_and_bad_taxonomy_are_clear(tmp_path):
    with pytest.raises(CurationError, match="not a curation project"):
        Project.open(tmp_path)
    with pytest.raises(CurationError, match="keys 'A' and 'B'"):
        Project.create(
            tmp_path / "p", tmp_path, {"question": "?", "choices": [{"key": "x"}, {"key": "y"}]}
        )
    with pytest.raises(NotFound):
        Project.create(tmp_path / "q", tmp_path).image(1)


@pytest.mark.slow
def test_labeling_page_in_chromium_keys_clicks_undo_and_reload(project):
    from conftest import launch_chromium, served
    from test_report import ARTIFACTS

    pytest.importorskip("playwright", reason="playwright is not installed")
    from playwright.sync_api import sync_playwright

    project.open_production()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    from cyclegan.apps.webguard import guard
    from cyclegan.curate.server import MAX_BODY

    # as `cyclegan curate label` serves it: behind the host, origin and size checks
    with served(guard(create_app(project), "127.0.0.1", None, (), MAX_BODY)) as url:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(url)
            page.fill("#labeler", "ann")
            page.press("#labeler", "Enter")  # confirms the name; keys now label
            page.wait_for_function("document.getElementById('picture').naturalWidth > 0")
            page.screenshot(path=str(ARTIFACTS / "curate_label_page.png"))
            assert page.get_attribute("#choices button:nth-child(1)", "title")  # hint tooltip

            def act_and_wait(action, labels):
                shown = page.text_content("#info")
                action()
                page.wait_for_function(  # as a person does: wait for the next image
                    "([shown, labels]) => document.getElementById('info').textContent !== shown"
                    " && document.getElementById('progress').textContent.includes(labels)",
                    arg=[shown, f"{labels} labels"],
                )

            act_and_wait(lambda: page.keyboard.press("1"), 1)  # key: domain A
            act_and_wait(lambda: page.click("#choices button:nth-child(2)"), 2)  # click: B
            act_and_wait(lambda: page.keyboard.press("3"), 3)  # key: neither
            act_and_wait(lambda: page.keyboard.press("u"), 2)  # undo brings that image back
            undone = page.text_content("#info")
            page.reload()  # labels are on the server, the name in the browser
            page.wait_for_function(
                "document.getElementById('progress').textContent.includes('2 labels')"
            )
            assert page.input_value("#labeler") == "ann"
            page.wait_for_function("document.getElementById('info').textContent !== ''")
            assert page.text_content("#info") == undone  # the undone image is next again
            page.screenshot(path=str(ARTIFACTS / "curate_after_reload.png"))
            browser.close()
    labels = sorted(
        lab["choice"] for i in range(1, 30) if _usable(project, i) for lab in project.labels_of(i)
    )
    assert labels == ["A", "B"]


@pytest.mark.slow
def test_suggestions_learn_from_labels_order_uncertain_first_and_export(tmp_path):
    pytest.importorskip("sklearn", reason="the curate extra is not installed")
    from cyclegan.curate.suggest import suggest
    from cyclegan.evaluation.inception import PACKAGE

    if __import__("importlib").util.find_spec(PACKAGE) is None:
        pytest.skip("suggestions need the metrics extra (requirements-metrics.txt)")
    root = tmp_path / "pile"
    root.mkdir()
    rng = np.random.default_rng(0)
    truth = {}
    for i in range(36):  # two easy kinds: warm stripes (A) and cool blobs (B)
        kind = "A" if i % 2 else "B"
        arr = np.zeros((80, 80, 3), np.uint8)
        if kind == "A":
            arr[:, :, 0] = 200
            arr[::8] = rng.integers(0, 255, 3)
        else:
            arr[:, :, 2] = 200
            arr[rng.integers(0, 60) :][:20, rng.integers(0, 60) :][:, :20] = 255
        Image.fromarray(arr).save(root / f"{i:02d}.png")
        truth[f"{i:02d}.png"] = kind
    p = Project.create(tmp_path / "proj", root, calibration_size=0, min_size=32)
    scan(p)
    p.open_production()
    with p.connect() as db:
        ids = {
            r["path"]: r["id"]
            for r in db.execute("SELECT id, path FROM images WHERE status = 'ok'")
        }
    for path in sorted(ids)[:14]:
        p.add_label(ids[path], "ann", truth[path])
    report = suggest(p)
    assert report["labeled"] == 14 and report["suggested"] == len(ids) - 14
    assert report["held_out_accuracy"] >= 0.9
    with p.connect() as db:
        rows = db.execute("SELECT image_id, choice, confidence FROM suggestions").fetchall()
    by_id = {v: k for k, v in ids.items()}
    correct = sum(truth[by_id[r["image_id"]]] == r["choice"] for r in rows)
    assert correct / len(rows) >= 0.9
    least_sure = min(rows, key=lambda r: r["confidence"])["image_id"]
    assert p.next_image("bob") == least_sure  # the page offers the least certain first
    summary = export(p, tmp_path / "data", test_fraction=0.0, accept_suggestions=0.0)
    assert summary["accepted_suggestions"] == len(ids) - 14
    labels = json.loads((tmp_path / "data" / "labels.json").read_text())["images"]
    assert {r["final_from"] for r in labels} == {"people", "suggestion"}
