"""The geometry stage's tests: the supervised clustering and its exact separability checks,
hull distances, label statistics and similarity, linear CKA, the published file formats,
the ``ftprobe probe`` runner (flags, config.ini, resume), repeats and ties, the partition
regression fixtures, and agreement with the published reference run (``reference_run``
of ``tests/conftest.py``).

Shared here: torch on one thread for every geometry test.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread: None) -> None:
    """Hull distances and statistics run in torch on tiny problems: one thread gives the same
    sums on any machine, and thread start-up would cost more than it saves on 2 shared cores."""
