"""The encode stage's tests: word-piece alignment, the offline default encoder and local
models, extraction on the real MiniLM, the representation store, pre-packed import and
export, the random-init baseline, the memorization subsplit and fine-tuning.

Shared here: ``encoder``, the default MiniLM loaded once per test module. The corpora
(``ewt_dev``, ``shared_data``) and the reference run (``reference_task``) come from
``tests/conftest.py``.
"""

from __future__ import annotations

import pytest
import torch

from ftprobe.encode.models import load_encoder, resolve_model


@pytest.fixture(scope="module")
def encoder():
    """The offline default encoder (all-MiniLM-L6-v2) on the CPU, as (tokenizer, model),
    with torch on two threads from then on."""
    torch.set_num_threads(2)
    return load_encoder(resolve_model(None), "cpu")
