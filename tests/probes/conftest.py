"""The probes stage's tests: the classifier probe, control tasks and shuffled labels, MDL
(online code length), and DirectProbe and the classifier probe as scikit-learn estimators
(``test_estimators.py``: the label vocabulary they share, ``ftprobe.estimators``).

Shared here: torch on one thread for every probe test.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Every probe trains small networks: on one thread the same seed gives the same weights
    on any machine, so that accuracies can be compared to fixed expected values."""
