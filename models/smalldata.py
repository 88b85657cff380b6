"""Training on small labelled sets (users' own data often has 2-5 records in a class):
each step that needs a number of records per class takes what the data allows, and says so.

- held-out split: 20%, raised to one record per class when 20% is fewer than the classes;
- SVM probability calibration: 5-fold, fewer folds when the smallest class is smaller, and
  fitted on the training records themselves when a class has a single one;
- MLP early stopping: on a stratified 10% slice (at least one record per class), or a fixed
  number of epochs when no such slice leaves every class in the training part.
"""

from __future__ import annotations

import numpy as np

from shared.errors import DataError

TEST_FRACTION = 0.2
CALIBRATION_FOLDS = 5
VALIDATION_FRACTION = 0.1


def test_size(labels: list[str]) -> int:
    """How many records to hold out, stratified; refuses data no split can evaluate."""
    counts = {c: labels.count(c) for c in dict.fromkeys(labels)}
    rare = [c for c, n in counts.items() if n < 2]
    if rare:
        raise DataError(f"class {rare[0]!r} has a single record; each class needs at least 2 "
                        "(one to train on, one to test on)")
    # With 2 or more records in every class, what is left to train on still holds each one.
    return max(round(len(labels) * TEST_FRACTION), len(counts))


def smallest_class(y: np.ndarray) -> int:
    return int(np.bincount(y)[np.unique(y)].min())


def calibration_folds(y: np.ndarray) -> int:
    """Cross-validation folds for the SVM's calibration; below 2, calibrate on the fit."""
    return min(CALIBRATION_FOLDS, smallest_class(y))


def validation_size(y: np.ndarray) -> int:
    """Records for the MLP's stratified early-stopping slice; 0 when none fits."""
    n_classes = len(np.unique(y))
    size = max(round(len(y) * VALIDATION_FRACTION), n_classes)
    if smallest_class(y) < 2 or len(y) - size < n_classes:
        return 0
    return size


def adaptations(n_records: int, n_test: int, y_train: np.ndarray) -> list[str]:
    """What differs from the defaults, in words for the training report."""
    notes = []
    if n_test != round(n_records * TEST_FRACTION):
        notes.append(f"held-out set raised from 20% to {n_test} records: one per class")
    folds = calibration_folds(y_train)
    if folds < 2:
        notes.append("SVM probabilities calibrated on the training records themselves: a "
                     "class has a single training record, too few for cross-validation")
    elif folds < CALIBRATION_FOLDS:
        notes.append(f"SVM calibration with {folds}-fold cross-validation instead of "
                     f"{CALIBRATION_FOLDS}: the smallest class has {folds} training records")
    if not validation_size(y_train):
        notes.append("MLP trained for a fixed number of epochs without early stopping: too "
                     "few records per class for a validation slice")
    return notes
