"""The Space in a real browser: Debian's chromium, driven headless by Playwright (no browser download)."""

import re
import shutil

import pytest

pytest.importorskip("gradio_client")
playwright = pytest.importorskip("playwright.sync_api")
from PIL import Image  # noqa: E402

from unifer.data.synfer import draw_face  # noqa: E402

from .test_space import served  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no `chromium` on PATH: `make browser` (Debian, as root) "
    "installs it; Playwright's own browser download is not used",
)


@pytest.fixture
def page(tiny_model_path, tmp_path):
    with (
        served(tiny_model_path, tmp_path / "results", tmp_path / "examples") as url,
        playwright.sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(url)
        yield page
        browser.close()


def upload(page, path) -> None:
    page.locator("input[type=file]").first.set_input_files(str(path))


@pytest.mark.slow
def test_upload_classify_and_leaderboard(page, tmp_path):
    expect = playwright.expect
    expect(page.get_by_text("meaningless")).to_be_visible()  # the tiny model says what it is
    expect(page.get_by_text("Synthetic example faces")).to_be_visible()
    face = tmp_path / "face.png"
    draw_face("surprise", seed=4).save(face)
    upload(page, face)
    page.get_by_role("button", name="Classify expression").click()

    expect(page.get_by_label("Reasoning (streamed)")).not_to_have_value("")
    expect(page.get_by_label("Answer (strict parse)")).to_have_value(re.compile(r"^(?!generating)\S"))
    expect(page.get_by_label("Well-formed response?")).to_have_value(re.compile(r"^(yes|no):"))
    # gr.Label lists every candidate with its probability (8 canonical emotions by default).
    expect(page.get_by_test_id("label").get_by_text(re.compile(r"^\d+%$"))).to_have_count(8)
    page.screenshot(path=tmp_path / "space_screenshot.png", full_page=True)

    page.get_by_role("tab", name="Leaderboard").click()
    expect(page.get_by_text("as reported by the paper").first).to_be_visible()
    expect(page.get_by_role("gridcell", name="68.84")).to_be_visible()
    page.screenshot(path=tmp_path / "leaderboard_screenshot.png", full_page=True)


@pytest.mark.slow
def test_too_small_image_shows_a_message_not_a_traceback(page, tmp_path):
    expect = playwright.expect
    small = tmp_path / "small.png"
    Image.new("RGB", (10, 10), "white").save(small)
    upload(page, small)
    page.get_by_role("button", name="Classify expression").click()
    toast = page.get_by_text(re.compile("too small to show a face"))
    expect(toast).to_be_visible()
    assert "Traceback" not in page.content()


@pytest.mark.slow
def test_photo_tab_draws_numbered_boxes_and_video_tab_shows_a_timeline(page, tmp_path):
    """A real photo (three real faces composed onto a real photo) and a video written here with PyAV from real-photo
    frames, uploaded and read in the browser."""
    from .faces_photos import three_faces, write_video

    expect = playwright.expect
    group = tmp_path / "group.jpg"
    three_faces()[0].save(group, quality=95)
    page.get_by_role("tab", name="Photo").click()
    panel = page.get_by_role("tabpanel")
    panel.locator("input[type=file]").first.set_input_files(str(group))
    panel.get_by_role("button", name="Read every face").click()
    expect(panel.get_by_text("3 face(s), numbered left to right.")).to_be_visible(timeout=120_000)
    expect(panel.locator("img[src$='.webp']")).to_be_visible()  # the photo with its boxes drawn, as served back
    expect(panel.get_by_test_id(re.compile(r"^cell-\d+-0$"))).to_have_count(3)  # one table row per face
    page.screenshot(path=tmp_path / "photo_tab.png", full_page=True)

    video = tmp_path / "crossing.webm"  # VP9: Chromium plays it back in the tab
    write_video(video)
    page.get_by_role("tab", name="Video").click()
    panel = page.get_by_role("tabpanel")
    panel.locator("input[type=file]").first.set_input_files(str(video))
    panel.get_by_role("button", name="Read the faces over time").click()
    expect(panel.get_by_text("6 frames read; 2 face(s) tracked, 12 readings.")).to_be_visible(timeout=120_000)
    expect(panel.locator(".vega-embed")).to_be_visible()  # the timeline plot
    expect(panel.get_by_test_id(re.compile(r"^cell-\d+-0$"))).to_have_count(12)  # 6 frames, 2 faces each
    links = panel.get_by_test_id("download-link")
    expect(links).to_have_count(2)
    downloads = {
        link.get_attribute("href").rsplit("/", 1)[1]: page.request.get(link.get_attribute("href"))
        for link in links.all()
    }
    assert set(downloads) == {"crossing.csv", "crossing.csv.jsonl"}
    assert len(downloads["crossing.csv"].text().strip().splitlines()) == 1 + 12  # header and one row per reading
    assert len(downloads["crossing.csv.jsonl"].text().strip().splitlines()) == 12
    page.screenshot(path=tmp_path / "video_tab.png", full_page=True)
    expect(page.get_by_text("Video not playable")).to_have_count(0)
    assert "Traceback" not in page.content()
