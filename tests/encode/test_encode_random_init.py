"""The random-init baseline encoder: the model's architecture with seeded random weights."""

from __future__ import annotations

from pathlib import Path

import torch

from ftprobe.encode.models import load_encoder, resolve_model, save_random_init


def _hidden(ref) -> tuple[torch.Tensor, ...]:
    tokenizer, model = load_encoder(ref, device="cpu")
    inputs = tokenizer(["the cat sat on the mat", "a dog"], padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).hidden_states


def test_a_random_init_encoder_has_the_shapes_and_not_the_vectors_of_the_model(
    tmp_path: Path,
) -> None:
    base = resolve_model("minilm-l6")
    state = torch.random.get_rng_state()
    first = save_random_init(base, tmp_path / "a", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the process's stream is untouched
    again = save_random_init(base, tmp_path / "b", seed=3)
    other = save_random_init(base, tmp_path / "c", seed=4)
    assert first.identity == again.identity != other.identity != base.identity
    trained, random = _hidden(base), _hidden(first)
    assert len(trained) == len(random) == 7
    for a, b in zip(trained, random, strict=True):
        assert a.shape == b.shape
    # Layer 0 shares nothing either (word embeddings are random too); the top layer differs.
    for layer in (0, 6):
        assert not torch.allclose(trained[layer], random[layer], atol=1e-2)
    assert all(torch.equal(a, b) for a, b in zip(random, _hidden(again), strict=True))
