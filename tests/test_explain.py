"""Explanations from the real model (MiniLM + the small trained artifacts), the positions
catalogue on the API, and the same explanation in `cvqueue predict`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from api.resources import resources
from models.positions import POSITIONS_BY_TITLE
from models.runtime import ModelRuntime
from shared.config import Settings
from shared.keys import create_key

SEVEN_YEARS_THREE_SKILLS = ("Data Scientist with 7 years of experience. I work daily in Python, "
                            "SQL and Pandas on retail forecasting.")


@pytest.fixture(scope="module")
def runtime(artifacts: Path) -> ModelRuntime:
    return ModelRuntime(artifacts)


def explain(runtime: ModelRuntime, text: str, position: str | None) -> dict:
    [prediction] = runtime.predict_batch([text], positions=[position])
    assert prediction.explanation is not None
    return prediction.explanation


def test_stated_years_and_skills_against_the_positions_requirement(runtime: ModelRuntime) -> None:
    got = explain(runtime, SEVEN_YEARS_THREE_SKILLS, "Data Scientist")
    required = POSITIONS_BY_TITLE["Data Scientist"].min_years
    assert got["position"] == {"given": "Data Scientist", "applied": "Data Scientist",
                               "known": True}
    assert got["experience"] == {"stated": 7, "required": required, "meets": True}
    assert got["skills"] == {"matched": ["Python", "SQL", "Pandas"],
                             "missing": ["Statistics", "Machine Learning"]}


def test_an_unknown_position_is_flagged_with_close_matches(runtime: ModelRuntime) -> None:
    got = explain(runtime, "Kitchen chef, 2 years of pastry work.", "Data Scientst")
    assert got["position"]["known"] is False and got["position"]["applied"] is None
    assert got["position"]["close_matches"][0] == "Data Scientist"
    assert "not in the catalogue" in got["position"]["note"]
    assert got["experience"] == {"stated": 2, "required": None, "meets": None}
    assert got["skills"] is None


def test_without_a_position_the_title_named_in_the_cv_applies(runtime: ModelRuntime) -> None:
    got = explain(runtime, "QA Engineer, 1 year with Selenium and Cypress.", None)
    assert got["position"]["applied"] == "QA Engineer" and got["position"]["known"] is False
    assert "named in the CV" in got["position"]["note"]
    assert got["skills"]["matched"] == ["Selenium", "Cypress"]


def test_factor_weights_are_shapley_values_that_add_up(runtime: ModelRuntime) -> None:
    """Efficiency: the factors' signed weights sum to P(label | CV) minus its average over the
    background records, for every CV of a batch and every classifier."""
    texts = [SEVEN_YEARS_THREE_SKILLS, "Accountant, 1 year, Excel.", "HR Manager for 9 years."]
    positions = ["Data Scientist", "Accountant", "HR Manager"]
    for name in ("random_forest", "svm", "mlp"):
        embeddings = runtime.embedder.encode(texts)
        x = np.hstack([embeddings, runtime.requirements.features(texts, positions)])  # type: ignore[union-attr]
        model = runtime.classifier(name)
        probs = model.predict_proba(x)
        weights = runtime.explainer.factor_weights(x, probs, model.predict_proba)
        decided = probs.argmax(axis=1)
        background = model.predict_proba(runtime.explainer.background)[:, decided].mean(axis=0)
        for i, w in enumerate(weights):
            assert set(w) == {"cv_text", "experience", "skills"}
            assert sum(w.values()) == pytest.approx(probs[i, decided[i]] - background[i], abs=1e-6)


def test_rows_shared_by_cvs_are_asked_once_with_the_same_weights(runtime: ModelRuntime) -> None:
    """CVs that agree on a coalition's kept columns (the same position, years or skill
    count) share its rows: the classifier is asked fewer rows, and each CV's weights are
    those it gets alone, to the bit (a forest scores each row on its own)."""
    texts = [SEVEN_YEARS_THREE_SKILLS, SEVEN_YEARS_THREE_SKILLS.replace("Pandas", "Excel"),
             "Data Scientist, 7 years, Python, SQL, Pandas and churn models.",
             "Accountant, 1 year, Excel."]
    positions = ["Data Scientist", "Data Scientist", "Data Scientist", "Accountant"]
    x = np.hstack([runtime.embedder.encode(texts),
                   runtime.requirements.features(texts, positions)])  # type: ignore[union-attr]
    model = runtime.classifier("random_forest")
    asked: list[int] = []

    def counted(rows: np.ndarray) -> np.ndarray:
        asked.append(len(rows))
        return model.predict_proba(rows)

    probs = model.predict_proba(x)
    together = runtime.explainer.factor_weights(x, probs, counted)
    nb = len(runtime.explainer.background)
    assert asked[0] < (2 ** 3 - 2) * len(x) * nb + nb
    alone = [runtime.explainer.factor_weights(x[i:i + 1], probs[i:i + 1], model.predict_proba)[0]
             for i in range(len(x))]
    assert together == alone


def test_factors_and_evidence_are_readable(runtime: ModelRuntime) -> None:
    [prediction] = runtime.predict_batch([SEVEN_YEARS_THREE_SKILLS], positions=["Data Scientist"])
    got = prediction.explanation
    assert got is not None
    weights = [f["weight"] for f in got["factors"]]
    assert weights == sorted(weights, reverse=True) and all(w >= 0 for w in weights)
    assert {f["direction"] for f in got["factors"]} <= {"for", "against"}
    assert [e["reference_id"] for e in got["evidence"]] == [n.reference_id
                                                             for n in prediction.neighbours]
    assert all(e["reason"] and e["outcome"] in ("Accepted", "Rejected") for e in got["evidence"])


def test_predict_cli_prints_the_same_explanation(artifacts: Path, runtime: ModelRuntime) -> None:
    out = subprocess.run([sys.executable, "-m", "shared.cli", "predict", "--json", "--artifacts",
                          str(artifacts), "--position", "Data Scientist",
                          SEVEN_YEARS_THREE_SKILLS], capture_output=True, text=True, check=True)
    printed = json.loads(out.stdout)["explanation"]
    expected = explain(runtime, SEVEN_YEARS_THREE_SKILLS, "Data Scientist")
    assert printed["experience"] == expected["experience"]
    assert printed["skills"] == expected["skills"]
    assert [f["factor"] for f in printed["factors"]] == [f["factor"] for f in expected["factors"]]
    assert printed["evidence"] == expected["evidence"]


@pytest.fixture()
def client(settings: Settings) -> Iterator[FlaskClient]:
    app: Flask = create_app({"SETTINGS": settings, "TESTING": True})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_key(resources(app).sessions, 'b')}"
    yield client


def test_positions_lists_the_learned_requirements(client: FlaskClient, runtime: ModelRuntime
                                                  ) -> None:
    body = client.get("/v1/positions").get_json()
    learned = runtime.requirements.openings  # type: ignore[union-attr]
    assert [p["title"] for p in body["positions"]] == sorted(learned)
    ds = next(p for p in body["positions"] if p["title"] == "Data Scientist")
    assert ds == {"title": "Data Scientist", "min_years": 3,
                  "keywords": ["Python", "Statistics", "Machine Learning", "SQL", "Pandas"]}


def test_an_unknown_position_is_accepted_with_a_warning(client: FlaskClient) -> None:
    r = client.post("/v1/submissions", json={"cv": "Python developer", "position": "Data Scientst"})
    assert r.status_code == 202
    [warning] = r.get_json()["warnings"]
    assert warning["field"] == "position" and warning["close_matches"] == ["Data Scientist"]
    r = client.post("/v1/submissions/batch", json=[{"cv": "a dev", "position": "Data Scientist"},
                                                    {"cv": "b dev", "position": "Chef"}])
    assert r.status_code == 202
    assert [(w["index"], w["close_matches"]) for w in r.get_json()["warnings"]] == [(1, [])]
