"""Suggestions: a classifier on image features proposes labels, so people label fewer.

Features are the 2048-d pool features of the TF-FID InceptionV3 (the metrics
extra, ``inception.py``), computed once per image from its cached view and
stored in the project. The classifier is scikit-learn's logistic regression
on standardized features, trained on the images that have a final label.

``suggest`` reports its held-out accuracy (stratified k-fold cross-validation
on the labeled images), then stores for every unlabeled usable image the most
probable choice and its probability. From then on the labeling page offers
the least confident images first (the ones a person's answer teaches the
classifier most, uncertainty sampling) and shows the suggestion. ``export``
can accept confident suggestions for images nobody labeled
(``--accept-suggestions 0.95``); labels.json marks them as suggested.

Run it again after more labels: every run retrains on all final labels.
"""

from __future__ import annotations

import numpy as np

from cyclegan.curate.store import CurationError, Project

MIN_LABELS = 10


def compute_features(project: Project, batch_size: int = 32) -> int:
    """Inception features for usable images that have none yet; returns how many."""
    from cyclegan.data.imageio import load_image, to_uint8
    from cyclegan.evaluation.inception import InceptionFeatures

    ids = project.ids_without_features()
    if not ids:
        return 0
    extractor = InceptionFeatures("cpu", batch_size=batch_size)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        images = [to_uint8(load_image(project.cache / "views" / f"{i}.jpg", 3)) for i in chunk]
        project.set_features(chunk, extractor(images))
    return len(ids)


def fit_and_predict(features: dict[int, np.ndarray], labels: dict[int, str], seed: int = 0):
    """(held-out accuracy, {unlabeled id: (choice, probability)}) from labeled features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ids = sorted(i for i in labels if i in features)
    classes = sorted(set(labels[i] for i in ids))
    if len(ids) < MIN_LABELS or len(classes) < 2:
        raise CurationError(
            f"suggestions need at least {MIN_LABELS} labeled images of two or "
            f"more kinds (have {len(ids)} of {len(classes)})"
        )
    x = np.stack([features[i] for i in ids])
    y = np.array([labels[i] for i in ids])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
    folds = min(5, min(int((y == c).sum()) for c in classes))
    accuracy = None
    if folds >= 2:
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        accuracy = float(cross_val_score(model, x, y, cv=cv).mean())
    model.fit(x, y)
    rest = sorted(i for i in features if i not in labels)
    predictions = {}
    if rest:
        proba = model.predict_proba(np.stack([features[i] for i in rest]))
        best = proba.argmax(axis=1)
        predictions = {
            i: (str(model.classes_[b]), float(p[b]))
            for i, b, p in zip(rest, best, proba, strict=True)
        }
    return accuracy, predictions


def suggest(project: Project) -> dict:
    computed = compute_features(project)
    accuracy, predictions = fit_and_predict(project.features(), project.final_labels())
    project.replace_suggestions(predictions)
    confident = sum(p >= 0.95 for _, p in predictions.values())
    return {
        "features_computed": computed,
        "labeled": len(project.final_labels()),
        "held_out_accuracy": accuracy,
        "suggested": len(predictions),
        "suggested_with_95_percent": confident,
    }
