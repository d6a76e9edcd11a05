"""Model cards: written by training into the entry, complete, rendered by a real browser,
copied by `make model-card`, served by `GET /model_card`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from matplotlib.image import imread

from riskserve.model_entry import MODEL_CARD_HTML, MODEL_CARD_JSON, MODEL_CARD_MD
from riskserve.settings import load_settings
from tests.commands import make
from tests.server import Server

PLOTS = ("ROC curve", "Calibration plot", "Score distribution by outcome")


def card(entry) -> dict:
    return json.loads((Path(entry.path) / MODEL_CARD_JSON).read_text())


def test_credit_card_holds_every_section(trained_model):
    facts = card(trained_model)
    perf = facts["performance"]
    assert facts["model"]["tag"] == str(trained_model.tag)
    assert facts["intended_use"] and facts["out_of_scope"]
    assert facts["data"]["rows"] == 5000 and facts["data"]["hash"]
    assert sum(facts["data"]["class_balance"].values()) == 5000
    assert perf["gini"] == pytest.approx(2 * perf["roc_auc"] - 1)
    assert perf["roc_auc"] == pytest.approx(trained_model.info.metadata["metrics"]["roc_auc"])
    assert 0 < perf["ks"] < 1 and 0 < perf["brier"] < 1 and perf["log_loss"] > 0
    assert sum(b["rows"] for b in perf["bands"].values()) == perf["rows"] == 1000
    assert np.sum(perf["confusion"]) == 1000
    assert [s["segment"] for s in facts["segments"]["age"]] == [
        "< 25",
        "25 to < 35",
        "35 to < 50",
        "50 to < 65",
        ">= 65",
    ]
    assert [r["code"] for r in facts["reason_codes"]] == [
        f["name"].upper() for f in facts["features"]
    ]
    assert sum(r["first_reason_share"] for r in facts["reason_codes"]) == pytest.approx(1)
    assert facts["explanations"]["additivity_max_abs_error"] < 1e-10
    assert facts["parity"]["max_abs_diff"] < 1e-4
    assert set(facts["stability"]) == {f["name"] for f in facts["features"]}
    assert "shap" in facts["library_versions"] and facts["limitations"]
    markdown = (Path(trained_model.path) / MODEL_CARD_MD).read_text()
    assert markdown.startswith("# Model card: Credit Application")
    assert "Excessive obligations in relation to income" in markdown


def test_fraud_card_segments_categories_and_iris_card_has_no_reasons(fraud_model, iris_model):
    segments = card(fraud_model)["segments"]
    assert [s["segment"] for s in segments["card_present"]] == ["false", "true"]
    assert {s["segment"] for s in segments["merchant_category"]} <= {
        "grocery",
        "electronics",
        "travel",
        "online",
        "fuel",
        "restaurant",
    }
    iris = card(iris_model)
    assert iris["reason_codes"] == [] and iris["explanations"] is None
    assert np.sum(iris["performance"]["confusion"]) == iris["performance"]["rows"]
    assert "Multiclass answers carry no reason codes." in iris["limitations"]


def test_html_card_is_self_contained_with_every_plot(trained_model):
    page = (Path(trained_model.path) / MODEL_CARD_HTML).read_text()
    for alt in PLOTS:
        assert re.search(rf'alt="{alt}" src="data:image/png;base64,[A-Za-z0-9+/=]{{1000,}}"', page)
    assert "http://" not in page and "https://" not in page  # opens offline


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="chromium is not installed (`make test` installs it)"
)
def test_headless_chromium_renders_the_card(trained_model, tmp_path):
    shot = tmp_path / "card.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,5200",
            f"--screenshot={shot}",
            (Path(trained_model.path) / MODEL_CARD_HTML).as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = imread(shot)[:, :, :3]
    assert pixels.shape[:2] == (5200, 1200)
    # Not blank: text and plots cover a real share of the page in many colours.
    drawn = np.any(pixels < 0.9, axis=2)
    assert drawn.mean() > 0.03
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 500
    # Every plot is drawn: the orange ROC and calibration curves side by side, and below
    # them the score histogram's half-transparent orange bars.
    orange = np.array([0xDD, 0x84, 0x52]) / 255
    curves = rows_of_colour(pixels, orange)
    bars = rows_of_colour(pixels, (orange + 1) / 2)
    assert len(curves) > 100 and len(bars) > 50
    assert np.median(bars) > curves.max()


def rows_of_colour(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Screenshot rows holding more than a few pixels of `colour`."""
    close = np.all(np.abs(pixels - colour) < 0.05, axis=2)
    return np.flatnonzero(close.sum(axis=1) > 3)


def test_make_model_card_copies_a_stored_card(trained_model, tmp_path):
    out = tmp_path / "card"
    result = make("model-card", MODEL=str(trained_model.tag), OUT=str(out))
    assert result.returncode == 0, result.stderr
    for name in (MODEL_CARD_HTML, MODEL_CARD_MD, MODEL_CARD_JSON):
        assert (out / name).read_bytes() == (Path(trained_model.path) / name).read_bytes()
    assert str(out / MODEL_CARD_HTML) in result.stdout
    missing = make("model-card", MODEL="no_such_model", OUT=str(out))
    assert missing.returncode != 0 and "no_such_model" in missing.stderr


def test_model_card_is_open_exactly_when_the_docs_are():
    settings = load_settings().security
    for protect in (True, False):
        paths = settings.model_copy(update={"protect_docs": protect}).open_paths()
        assert ("/model_card" in paths) == ("/docs.json" in paths) == (not protect)


@pytest.mark.slow
def test_model_card_is_served_and_protected_like_the_docs(trained_model, tmp_path):
    env = {"RISKSERVE_API_KEYS": "card-key"}
    with Server.source(tmp_path, env=env) as srv:
        assert httpx.get(f"{srv.url}/model_card").status_code == 401
        response = httpx.get(f"{srv.url}/model_card", headers={"X-API-Key": "card-key"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.content == (Path(trained_model.path) / MODEL_CARD_HTML).read_bytes()
