"""The certificates between current clusters, kept in a hash table by creation ids. A code
read back with the wrong sign or for the wrong pair would let the merges reuse a
hyperplane for a pair it does not separate (a parent's code that both parents share is
not tested again), so the table must return exactly what was recorded, from either side,
through every rebuild, and nothing for pairs never recorded."""

from __future__ import annotations

import numpy as np

from ftprobe.geometry.merging.certificates import CertificateTable


def _model_codes(model: dict[tuple[int, int], int], a: int, others: np.ndarray) -> np.ndarray:
    out = []
    for b in others.tolist():
        code = model.get((min(a, b), max(a, b)), 0)
        out.append(code if a < b else -code)
    return np.array(out, dtype=np.int64)


def test_codes_read_back_from_either_side_through_rebuilds_and_retirements() -> None:
    rng = np.random.default_rng(3)
    n_ids = 5_000
    table = CertificateTable(n_ids)
    model: dict[tuple[int, int], int] = {}
    alive = np.ones(n_ids, dtype=bool)
    recorded: set[tuple[int, int]] = set()
    for step in range(2_000):
        live = np.flatnonzero(alive)
        a = int(rng.choice(live))
        others = rng.choice(live[live != a], size=int(rng.integers(1, 120)), replace=False)
        codes = rng.integers(-400_000, 400_000, size=len(others))
        codes[rng.random(len(others)) < 0.1] = 0  # no certificate: nothing is recorded
        table.put(a, others, codes)
        for b, code in zip(others.tolist(), codes.tolist(), strict=True):
            if code != 0:
                model[(min(a, b), max(a, b))] = code if a < b else -code
                recorded.add((min(a, b), max(a, b)))
        if step % 3 == 0:  # two clusters merged away
            gone = rng.choice(live[live != a], size=2, replace=False)
            table.retire(*gone.tolist())
            alive[gone] = False  # their entries in the model are never asked for again
        if step % 50 == 0:
            live = np.flatnonzero(alive)
            for x in rng.choice(live, size=5, replace=False).tolist():
                ask = live[live != x]
                assert np.array_equal(table.get(x, ask), _model_codes(model, x, ask))
    # Rebuilds dropped the retired clusters' entries (without them every pair ever
    # recorded would still hold a bucket), and the table stays at most half full.
    current = sum(1 for a, b in model if alive[a] and alive[b])
    assert current < table.used < len(recorded)
    assert table.used <= len(table.keys) // 2
    table.rebuild()
    assert table.used == current
    live = np.flatnonzero(alive)
    for x in live[:200].tolist():
        ask = live[live != x]
        assert np.array_equal(table.get(x, ask), _model_codes(model, x, ask))


def test_a_new_table_knows_no_certificate_and_a_later_code_replaces_an_earlier_one() -> None:
    table = CertificateTable(100)
    assert np.array_equal(table.get(7, np.array([1, 8, 99])), np.zeros(3, dtype=np.int64))
    table.put(7, np.array([8, 3]), np.array([5, -6]))
    table.put(8, np.array([7]), np.array([9]))  # the pair's code seen from the other side
    assert np.array_equal(table.get(7, np.array([3, 8, 9])), np.array([-6, -9, 0]))
    assert np.array_equal(table.get(3, np.array([7])), np.array([6]))
