"""Fixtures shared by the stages' tests: where the checkout, the shared corpora and the
reference outputs are, and torch on one thread.

The tests sit in one folder per stage (``data``, ``encode``, ``geometry``, ``probes``,
``analyses``, ``report``), the orchestrators (``study``, ``cli``) and ``architecture``; each
folder's ``conftest.py`` holds what only that stage's tests share. A fixture used by more
than one folder lives here.

The corpora are never copied into the repository. ``FTPROBE_DATA`` and
``FTPROBE_REFERENCE`` point at them; when unset, the folders beside the
checkout (``../shared/data``, ``../shared/reference``) are used, which is
where CI and developer machines have them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _setting(var: str, default: Path) -> Path:
    path = Path(os.environ.get(var) or default)
    if not path.is_dir():
        pytest.exit(
            f"{var} is not set and {default} does not exist: point {var} at the shared folder",
            returncode=4,
        )
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    """The checkout's root (``src/``, ``studies/``), wherever the test file sits below it."""
    return REPO


@pytest.fixture(scope="session")
def repo_studies(repo: Path) -> Path:
    """The repository's own study files (``studies/quickstart.toml``, ``studies/smoke.toml``)."""
    return repo / "studies"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder with ud-ewt/, streusle/ and trec/."""
    return _setting("FTPROBE_DATA", REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """The folder with the published DirectProbe's reference run."""
    return _setting("FTPROBE_REFERENCE", REPO.parent / "shared" / "reference")


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the test: the same sums in the same order on any machine, so
    that trained networks and hull distances can be compared to fixed expected values."""
    import torch  # here, so that collecting the tests that need no torch does not load it

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
