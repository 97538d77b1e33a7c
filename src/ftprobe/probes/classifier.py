"""The classifier probe: a two-layer network trained on frozen vectors.

The probe answers "how well can a small classifier read the labels off this
representation?". It is a multilayer perceptron with one hidden layer
(input -> ``hidden_size`` ReLU units -> one logit per label), written as a
small torch module so that it stays fast in float32, handles label sets whose
rarest labels have a single example, and predicts in the task's full label
space (labels absent from the training vectors are never predicted, but they
keep their index).

Training recipe (all of it is a constructor option):

- features standardised with the training vectors' per-dimension mean and
  standard deviation (constant dimensions are left unscaled);
- Adam, learning rate 1e-3, mini-batches of 256, L2 penalty 1e-4 on all
  parameters (Adam's ``weight_decay``), no dropout;
- early stopping: 10% of the training vectors are held out (never the last
  example of a label, so no label disappears from training); after every
  epoch the held-out cross-entropy is measured, training stops after 5 epochs
  without an improvement and the weights of the best epoch are restored. When
  the held-out part would have fewer than 20 vectors it is too small to be a
  reliable signal: then all vectors are used for training for ``max_epochs``
  (100) epochs;
- deterministic under ``seed``: the weight initialisation, the held-out split
  and the batch order all derive from it (the process-wide torch RNG is left
  untouched), so the same data and seed give the same probe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
import torch
from torch import nn

from ftprobe.errors import ConfigError, FtprobeError

DEFAULT_FRACTIONS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(1, 11))
"""Learning-curve fractions: 10%, 20%, ..., 100% of the training vectors."""

_PREDICT_CHUNK = 8192


@dataclass(frozen=True)
class ProbeScores:
    """A probe's figures on one evaluation split.

    ``per_label`` has one row per label of the label space (columns ``label``,
    ``n``, ``correct``, ``accuracy``); a label with no example in the
    evaluation split has ``n == 0`` and ``accuracy`` NaN. ``macro_f1`` is the
    mean F1 over the labels that occur in the evaluation split: predicting a
    label that does not occur there is an error (it lowers the true label's
    recall) but adds no F1 term of its own.
    """

    accuracy: float
    macro_f1: float
    n: int
    per_label: pd.DataFrame


def score_predictions(
    y_true: np.ndarray, y_pred: np.ndarray, label_names: Sequence[str] | None = None
) -> ProbeScores:
    """Accuracy, macro-F1 and per-label accuracy of predicted label indices."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise FtprobeError(
            f"{len(y_true)} gold labels but {len(y_pred)} predictions: they must pair up"
        )
    if len(y_true) == 0:
        raise FtprobeError("cannot score an empty evaluation split")
    top = int(max(y_true.max(), y_pred.max())) + 1
    names = list(label_names) if label_names is not None else [str(i) for i in range(top)]
    if top > len(names):
        raise FtprobeError(f"label index {top - 1} is outside the {len(names)} label names given")
    k = len(names)
    gold = np.bincount(y_true, minlength=k)
    predicted = np.bincount(y_pred, minlength=k)
    hit = y_true == y_pred
    correct = np.bincount(y_true[hit], minlength=k)
    present = gold > 0
    # F1 = 2 TP / (gold + predicted): defined for every label that occurs in gold.
    f1 = 2.0 * correct[present] / (gold[present] + predicted[present])
    with np.errstate(invalid="ignore", divide="ignore"):
        per_label_acc = np.where(present, correct / np.maximum(gold, 1), np.nan)
    per_label = pd.DataFrame(
        {"label": names, "n": gold, "correct": correct, "accuracy": per_label_acc}
    )
    return ProbeScores(
        accuracy=float(hit.mean()),
        macro_f1=float(f1.mean()),
        n=int(len(y_true)),
        per_label=per_label,
    )


class _MLP(nn.Module):
    def __init__(self, n_in: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_in, hidden)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)))


class ClassifierProbe:
    """A one-hidden-layer classifier on frozen vectors (see the module docstring).

    >>> probe = ClassifierProbe(hidden_size=256, seed=0).fit(X_train, y_train)
    >>> scores = probe.evaluate(X_test, y_test, label_names)
    """

    def __init__(
        self,
        hidden_size: int = 256,
        *,
        seed: int = 0,
        max_epochs: int = 100,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.1,
        patience: int = 5,
        min_validation: int = 20,
        standardize: bool = True,
        device: str = "cpu",
    ) -> None:
        if hidden_size < 1:
            raise ConfigError(f"hidden_size must be positive, got {hidden_size}")
        if max_epochs < 1 or batch_size < 1 or patience < 1:
            raise ConfigError("max_epochs, batch_size and patience must be positive")
        if not 0.0 <= validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
        if learning_rate <= 0 or weight_decay < 0:
            raise ConfigError("learning_rate must be positive and weight_decay non-negative")
        self.hidden_size = hidden_size
        self.seed = seed
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_validation = min_validation
        self.standardize = standardize
        self.device = torch.device(device)
        self._net: _MLP | None = None
        self.n_labels_: int = 0
        self.epochs_: int = 0
        self.early_stopped_: bool = False

    # -- training -----------------------------------------------------------

    def fit(
        self, X: np.ndarray, y: Sequence[int] | np.ndarray, n_labels: int | None = None
    ) -> Self:
        """Train on vectors ``X`` (n x d) with label indices ``y``; returns ``self``.

        ``n_labels`` is the size of the label space (default: the largest index
        in ``y`` plus one); give it so that predictions and scores use the
        task's full label set even when the training vectors miss some labels.
        """
        X = _as_matrix(X)
        y = np.asarray(y, dtype=np.int64)
        if y.ndim != 1 or len(y) != len(X):
            raise FtprobeError(f"{len(X)} vectors but {len(y)} labels: they must pair up")
        if len(y) == 0:
            raise FtprobeError("cannot train a probe on zero vectors")
        if y.min() < 0:
            raise FtprobeError("label indices must be non-negative")
        k = int(y.max()) + 1 if n_labels is None else int(n_labels)
        if k <= int(y.max()):
            raise FtprobeError(f"label index {int(y.max())} is outside n_labels={k}")

        if self.standardize:
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            std[std < 1e-12] = 1.0
        else:
            mean = np.zeros(X.shape[1])
            std = np.ones(X.shape[1])
        self._mean = torch.as_tensor(mean, dtype=torch.float32, device=self.device)
        self._scale = torch.as_tensor(1.0 / std, dtype=torch.float32, device=self.device)

        rng = np.random.default_rng(self.seed)
        train_idx, val_idx = _holdout(y, self.validation_fraction, self.min_validation, rng)
        xs = self._prepare(X)
        ys = torch.as_tensor(y, device=self.device)
        x_tr, y_tr = xs[train_idx], ys[train_idx]
        x_va, y_va = xs[val_idx], ys[val_idx]

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = _MLP(X.shape[1], self.hidden_size, k).to(self.device)
        optimizer = torch.optim.Adam(
            net.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        order_gen = torch.Generator().manual_seed(self.seed)
        loss_fn = nn.CrossEntropyLoss()
        early = len(val_idx) > 0
        best_loss, best_state, stale, epochs_run = math.inf, None, 0, 0
        for epoch in range(1, self.max_epochs + 1):
            epochs_run = epoch
            net.train()
            order = torch.randperm(len(y_tr), generator=order_gen).to(self.device)
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(net(x_tr[batch]), y_tr[batch])
                loss.backward()
                optimizer.step()
            if not early:
                continue
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(x_va), y_va))
            if val_loss < best_loss - 1e-4:
                best_loss, stale = val_loss, 0
                best_state = {name: t.detach().clone() for name, t in net.state_dict().items()}
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        self._net = net
        self.n_labels_ = k
        self.epochs_ = epochs_run
        self.early_stopped_ = early and epochs_run < self.max_epochs
        return self

    # -- use ----------------------------------------------------------------

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The predicted label index of every row of ``X``."""
        net = self._fitted()
        X = _as_matrix(X)
        if X.shape[1] != net.hidden.in_features:
            raise FtprobeError(
                f"vectors have {X.shape[1]} dimensions; the probe was trained on "
                f"{net.hidden.in_features}"
            )
        out = np.empty(len(X), dtype=np.int64)
        with torch.no_grad():
            for start in range(0, len(X), _PREDICT_CHUNK):
                chunk = self._prepare(X[start : start + _PREDICT_CHUNK])
                out[start : start + len(chunk)] = net(chunk).argmax(dim=1).cpu().numpy()
        return out

    def evaluate(
        self,
        X: np.ndarray,
        y: Sequence[int] | np.ndarray,
        label_names: Sequence[str] | None = None,
    ) -> ProbeScores:
        """Accuracy, macro-F1 and per-label accuracy on vectors ``X`` with gold ``y``.

        ``label_names`` (in label-index order) name the per-label rows; by
        default the rows are named by index and cover the probe's label space.
        """
        y = np.asarray(y, dtype=np.int64)
        if len(y) != len(X):
            raise FtprobeError(f"{len(X)} vectors but {len(y)} labels: they must pair up")
        names = (
            list(label_names)
            if label_names is not None
            else [str(i) for i in range(self.n_labels_)]
        )
        return score_predictions(y, self.predict(X), names)

    def _prepare(self, X: np.ndarray) -> torch.Tensor:
        # Vectors often come straight from the store's read-only memory maps, which torch
        # cannot wrap without a copy (and warns about): copy those once here.
        if not X.flags.writeable:
            X = np.array(X, dtype=np.float32)
        x = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        return (x - self._mean) * self._scale

    def _fitted(self) -> _MLP:
        if self._net is None:
            raise FtprobeError("the probe has not been trained: call fit() first")
        return self._net


def _as_matrix(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise FtprobeError(f"expected a 2-D array of vectors, got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float32)
    return X


def _holdout(
    y: np.ndarray, fraction: float, min_validation: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, held-out) positions; a label's last example always stays in training."""
    n_val = int(round(fraction * len(y)))
    if n_val < max(1, min_validation):
        return np.arange(len(y)), np.empty(0, dtype=np.int64)
    left = np.bincount(y)
    val: list[int] = []
    for i in rng.permutation(len(y)):
        if left[y[i]] > 1:
            left[y[i]] -= 1
            val.append(int(i))
            if len(val) == n_val:
                break
    held = np.zeros(len(y), dtype=bool)
    held[val] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


def nested_subsets(n: int, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Sorted positions of a seeded random subset of ``range(n)`` per fraction.

    The subsets are prefixes of one seeded permutation, so a larger fraction's
    subset contains every smaller fraction's subset. Each holds
    ``max(1, round(fraction * n))`` positions.
    """
    for f in fractions:
        if not 0.0 < f <= 1.0:
            raise ConfigError(f"learning-curve fractions must be in (0, 1], got {f}")
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(perm[: max(1, int(round(f * n)))]) for f in fractions]


def learning_curve(
    X_train: np.ndarray,
    y_train: Sequence[int] | np.ndarray,
    eval_sets: Mapping[str, tuple[np.ndarray, Sequence[int] | np.ndarray]],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    *,
    probe: ClassifierProbe | None = None,
    n_labels: int | None = None,
) -> pd.DataFrame:
    """Train a probe on growing, nested, seeded fractions of the training vectors.

    For every fraction (see :func:`nested_subsets`, drawn with ``seed``) a probe
    is trained on that subset and evaluated on every named split of
    ``eval_sets`` (name -> (vectors, label indices)). ``probe`` carries the
    probe's settings (default ``ClassifierProbe(seed=seed)``); it is refitted
    for each fraction. Returns one row per (fraction, split) with columns
    ``fraction, n_train, split, accuracy, macro_f1``.
    """
    X_train = _as_matrix(X_train)
    y_train = np.asarray(y_train, dtype=np.int64)
    if len(y_train) != len(X_train):
        raise FtprobeError(
            f"{len(X_train)} training vectors but {len(y_train)} labels: they must pair up"
        )
    if not eval_sets:
        raise ConfigError("a learning curve needs at least one evaluation split")
    evals = {
        name: (_as_matrix(X), np.asarray(y, dtype=np.int64)) for name, (X, y) in eval_sets.items()
    }
    if n_labels is None:
        n_labels = 1 + int(max([y_train.max(), *(y.max() for _, y in evals.values() if len(y))]))
    probe = probe if probe is not None else ClassifierProbe(seed=seed)
    rows = []
    for fraction, subset in zip(
        fractions, nested_subsets(len(y_train), fractions, seed), strict=True
    ):
        probe.fit(X_train[subset], y_train[subset], n_labels=n_labels)
        for name, (X, y) in evals.items():
            scores = probe.evaluate(X, y)
            rows.append(
                {
                    "fraction": float(fraction),
                    "n_train": int(len(subset)),
                    "split": name,
                    "accuracy": scores.accuracy,
                    "macro_f1": scores.macro_f1,
                }
            )
    return pd.DataFrame(rows, columns=["fraction", "n_train", "split", "accuracy", "macro_f1"])
