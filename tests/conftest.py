"""Shared fixtures: where the shared corpora and reference outputs are.

The corpora are never copied into the repository. ``FTPROBE_DATA`` and
``FTPROBE_REFERENCE`` point at them; when unset, the folders beside the
checkout (``../shared/data``, ``../shared/reference``) are used, which is
where CI and developer machines have them.
"""

from __future__ import annotations

import os
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
def shared_data() -> Path:
    """The folder with ud-ewt/, streusle/ and trec/."""
    return _setting("FTPROBE_DATA", REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """The folder with the published DirectProbe's reference run."""
    return _setting("FTPROBE_REFERENCE", REPO.parent / "shared" / "reference")
