"""The study's tables compute train-test similarity by the one rule, over defined pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ftprobe.study.tables import _train_test_similarity


def _pairs(values: dict[tuple[str, str], float | None]) -> pd.DataFrame:
    """A job's label_pairs part: undefined pairs written as 0, as vec.txt does."""
    return pd.DataFrame(
        {
            "label_a": [a for a, _ in values],
            "label_b": [b for _, b in values],
            "distance": [0.0 if v is None else v for v in values.values()],
            "defined": [v is not None for v in values.values()],
        }
    )


def test_undefined_pairs_do_not_enter_the_train_test_similarity() -> None:
    train = _pairs({("A", "B"): 1.0, ("A", "C"): 2.0, ("B", "C"): 4.0, ("A", "X"): 3.0})
    # X has no counted cluster in the test split: its pairs are written as 0 there.
    test = _pairs({("A", "B"): 2.0, ("A", "C"): 3.5, ("B", "C"): 9.0, ("A", "X"): None})
    got = _train_test_similarity(train, test)
    assert got["train_test_similarity_pairs"] == 3
    assert got["train_test_similarity"] == pytest.approx(np.corrcoef([1, 2, 4], [2, 3.5, 9])[0, 1])
    assert got["train_test_similarity_reason"] == ""
    # Counting the 0 as a distance (the old rule) gives another number.
    assert got["train_test_similarity"] != pytest.approx(
        np.corrcoef([1, 2, 4, 3], [2, 3.5, 9, 0])[0, 1]
    )


def test_too_few_common_pairs_is_nan_with_its_reason() -> None:
    train = _pairs({("A", "B"): 1.0, ("A", "C"): 2.0, ("B", "C"): None})
    test = _pairs({("A", "B"): 2.0, ("A", "C"): 3.0, ("B", "C"): 5.0})
    got = _train_test_similarity(train, test)
    assert np.isnan(got["train_test_similarity"]) and got["train_test_similarity_pairs"] == 2
    assert "only 2 label pairs" in got["train_test_similarity_reason"]
    missing = _train_test_similarity(train, None)
    assert np.isnan(missing["train_test_similarity"])
    assert "test split" in missing["train_test_similarity_reason"]
