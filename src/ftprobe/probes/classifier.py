"""The classifier probe: a small multilayer network trained on frozen vectors.

The probe answers "how well can a small classifier read the labels off this
representation?". As in the paper (Zhou and Srikumar, 2022) it is a
multilayer perceptron with **two** hidden layers (input -> ``hidden_sizes[0]``
ReLU units -> ``hidden_sizes[1]`` ReLU units -> one logit per label), written
as a small torch module so that it stays fast in float32, handles label sets
whose rarest labels have a single example, and predicts in the task's full
label space (labels absent from the training vectors are never predicted, but
they keep their index).

Training recipe (all of it is a constructor option):

- features standardised with the training vectors' per-dimension mean and
  standard deviation (constant dimensions are left unscaled);
- Adam, learning rate 1e-3, mini-batches of 256, L2 weight ``l2`` (1e-4) on
  all parameters (Adam's coupled ``weight_decay``: the loss gains
  ``l2 / 2 * ||theta||^2``), no dropout;
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

Labels follow :mod:`ftprobe.estimators`, as for DirectProbe: ``y`` holds label
names or indices, and ``labels`` fixes the label set and its order.

The paper's protocol is two options away:

- ``search=True`` chooses the hidden sizes and the L2 weight as the paper did:
  every pair of ``search_sizes`` (the paper's {32, 64, 128, 256}, so 16 pairs)
  times every weight of ``search_l2`` (1e-7 ... 1 on a log scale). Each
  setting is trained on the training vectors minus a seeded held-out part
  (``search_fraction``, 20%) and scored by accuracy on that part; the test
  split is never seen. The best setting (the first in grid order on a tie) is
  then refitted on all the training vectors. The search is run once, with
  ``seed``; it costs ``len(search_sizes)**2 * len(search_l2)`` extra fits
  (80 by default).
- ``restarts=n`` trains ``n`` networks with the chosen setting and seeds
  ``seed, seed + 1, ...`` (initialisation, batch order and early-stopping
  hold-out differ); :meth:`ClassifierProbe.report` reports the mean over
  restarts and the sample standard deviation (NaN with one restart: a spread
  of one number is undefined, not 0). The paper used 5.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from torch import nn

from ftprobe.errors import ConfigError, FtprobeError
from ftprobe.estimators import Labels, check_labels, class_names, label_indices, learn_classes
from ftprobe.probes.settings import (
    DEFAULT_HIDDEN_SIZES,
    DEFAULT_L2,
    DEFAULT_SEARCH_FRACTION,
    DEFAULT_SEARCH_L2,
    PAPER_SEARCH_SIZES,
    SEARCH_COLUMNS,
    check_probe_settings,
    format_sizes,
)

DEFAULT_FRACTIONS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(1, 11))
"""Learning-curve fractions: 10%, 20%, ..., 100% of the training vectors."""

_PREDICT_CHUNK = 8192
# The search's held-out part is drawn from its own stream so that it is not the same
# permutation as the early-stopping hold-out of the network trained with the same seed.
_SEARCH_STREAM = 1


@dataclass(frozen=True)
class ProbeScores:
    """A probe's figures on one evaluation split.

    ``per_label`` has one row per label of the label space (columns ``label``,
    ``n``, ``correct``, ``accuracy`` and ``accuracy_sd``); a label with no example
    in the evaluation split has ``n == 0`` and ``accuracy`` NaN. ``macro_f1`` is
    the mean F1 over the labels that occur in the evaluation split: predicting a
    label that does not occur there is an error (it lowers the true label's
    recall) but adds no F1 term of its own.

    For a probe with several restarts the figures are means over the restarts
    (``correct`` too, so it may be fractional), ``accuracy_sd``/``macro_f1_sd``
    (and the per-label ``accuracy_sd``) are sample standard deviations, and
    ``restart_accuracies`` lists each restart's accuracy. With one restart the
    standard deviations are NaN: undefined, not 0.
    """

    accuracy: float
    macro_f1: float
    n: int
    per_label: pd.DataFrame
    accuracy_sd: float = math.nan
    macro_f1_sd: float = math.nan
    restart_accuracies: tuple[float, ...] = ()

    @property
    def restarts(self) -> int:
        """How many trained networks the figures summarise."""
        return max(1, len(self.restart_accuracies))


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
        {
            "label": names,
            "n": gold,
            "correct": correct,
            "accuracy": per_label_acc,
            "accuracy_sd": np.full(k, np.nan),
        }
    )
    accuracy = float(hit.mean())
    return ProbeScores(
        accuracy=accuracy,
        macro_f1=float(f1.mean()),
        n=int(len(y_true)),
        per_label=per_label,
        restart_accuracies=(accuracy,),
    )


def sample_sd(values: Sequence[float] | np.ndarray, axis: int = 0) -> np.ndarray | float:
    """The sample standard deviation (ddof 1) along ``axis``; NaN with fewer than 2 values."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[axis] < 2:
        out = np.full(np.delete(values.shape, axis), np.nan)
    else:
        out = values.std(axis=axis, ddof=1)
    return float(out) if np.ndim(out) == 0 else out


def combine_restarts(scores: Sequence[ProbeScores]) -> ProbeScores:
    """Mean and sample standard deviation of several restarts' scores on one split."""
    if not scores:
        raise FtprobeError("no restarts to combine")
    if len(scores) == 1:
        return scores[0]
    first = scores[0].per_label
    acc = np.array([s.accuracy for s in scores])
    f1 = np.array([s.macro_f1 for s in scores])
    per_acc = np.stack([s.per_label["accuracy"].to_numpy(dtype=np.float64) for s in scores])
    correct = np.stack([s.per_label["correct"].to_numpy(dtype=np.float64) for s in scores])
    with np.errstate(invalid="ignore"):
        per_label = pd.DataFrame(
            {
                "label": first["label"],
                "n": first["n"],
                "correct": correct.mean(axis=0),
                # A label absent from the split is NaN in every restart and stays NaN.
                "accuracy": per_acc.mean(axis=0),
                "accuracy_sd": sample_sd(per_acc, axis=0),
            }
        )
    return ProbeScores(
        accuracy=float(acc.mean()),
        macro_f1=float(f1.mean()),
        n=scores[0].n,
        per_label=per_label,
        accuracy_sd=sample_sd(acc),
        macro_f1_sd=sample_sd(f1),
        restart_accuracies=tuple(float(a) for a in acc),
    )


class _MLP(nn.Module):
    def __init__(self, n_in: int, hidden: Sequence[int], n_out: int) -> None:
        super().__init__()
        widths = [n_in, *hidden]
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.out = nn.Linear(widths[-1], n_out)

    @property
    def in_features(self) -> int:
        return self.hidden[0].in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


@dataclass(frozen=True)
class _Trained:
    net: _MLP
    epochs: int
    early_stopped: bool


class ClassifierProbe(ClassifierMixin, BaseEstimator):
    """A two-hidden-layer classifier on frozen vectors (see the module docstring).

    >>> probe = ClassifierProbe((256, 256), labels=label_names, seed=0).fit(X_train, y_train)
    >>> probe.score(X_test, y_test)          # accuracy (the mean over restarts)
    >>> scores = probe.report(X_test, y_test)  # accuracy, macro-F1, per label

    The paper's protocol: ``ClassifierProbe(search=True, restarts=5, seed=0)``.
    The parameters are stored as given and checked by :meth:`fit` (a
    :class:`~ftprobe.errors.ConfigError`). After :meth:`fit`, ``classes_`` is
    the label set, ``hidden_sizes_`` and ``l2_`` are the settings used (the
    search's choice, or the fixed ones), ``search_results_`` is the search's
    table (one row per setting: ``hidden_sizes``, ``l2``, ``heldout_accuracy``,
    ``selected``; empty without a search), and ``epochs_``/``early_stopped_``
    hold one entry per restart.
    """

    def __init__(
        self,
        hidden_sizes: Sequence[int] = DEFAULT_HIDDEN_SIZES,
        *,
        labels: Sequence[str] | None = None,
        l2: float = DEFAULT_L2,
        search: bool = False,
        search_sizes: Sequence[int] = PAPER_SEARCH_SIZES,
        search_l2: Sequence[float] = DEFAULT_SEARCH_L2,
        search_fraction: float = DEFAULT_SEARCH_FRACTION,
        restarts: int = 1,
        seed: int = 0,
        max_epochs: int = 100,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        validation_fraction: float = 0.1,
        patience: int = 5,
        min_validation: int = 20,
        standardize: bool = True,
        device: str = "cpu",
    ) -> None:
        self.hidden_sizes = hidden_sizes
        self.labels = labels
        self.l2 = l2
        self.search = search
        self.search_sizes = search_sizes
        self.search_l2 = search_l2
        self.search_fraction = search_fraction
        self.restarts = restarts
        self.seed = seed
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.min_validation = min_validation
        self.standardize = standardize
        self.device = device

    def _check_params(self) -> torch.device:
        """The torch device to train on; :class:`ConfigError` names the first bad parameter."""
        if isinstance(self.hidden_sizes, int):
            raise ConfigError(
                f"hidden_sizes is a list of layer widths, "
                f"e.g. [{self.hidden_sizes}, {self.hidden_sizes}]"
            )
        check_labels(self.labels)
        check_probe_settings(
            hidden_sizes=self.hidden_sizes,
            l2=self.l2,
            search_sizes=self.search_sizes,
            search_l2=self.search_l2,
            search_fraction=self.search_fraction,
            restarts=self.restarts,
        )
        if self.max_epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ConfigError("max_epochs, batch_size and patience must be positive")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ConfigError(
                f"validation_fraction must be in [0, 1), got {self.validation_fraction}"
            )
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate must be positive")
        try:
            return torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ConfigError(
                f"device must be a torch device such as 'cpu' or 'cuda', not {self.device!r}"
            ) from exc

    # -- training -----------------------------------------------------------

    def fit(self, X: np.ndarray, y: Labels) -> Self:
        """Train on vectors ``X`` (n x d) with labels ``y`` (names or indices); returns ``self``.

        The label space is ``labels`` when given (give it so that predictions and
        scores use the task's full label set even when the training vectors miss
        some labels), else learnt from ``y`` (see :mod:`ftprobe.estimators`).
        With ``search`` the settings are first chosen on a held-out part of
        these vectors (see the module docstring); then ``restarts`` networks are
        trained on all of them.
        """
        self._device = self._check_params()
        X, y, classes = _checked(X, y, self.labels)
        k = len(classes)
        hidden, l2 = tuple(int(h) for h in self.hidden_sizes), float(self.l2)
        self.search_results_ = _search_table([])
        if self.search:
            hidden, l2 = self._search(X, y, k)
        self._set_scaling(X)
        xs, ys = self._prepare(X), torch.as_tensor(y, device=self._device)
        runs = [
            self._train(xs, ys, k, hidden, l2, self.seed + i) for i in range(int(self.restarts))
        ]
        self._nets = [r.net for r in runs]
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.hidden_sizes_, self.l2_ = tuple(hidden), float(l2)
        self.epochs_ = tuple(r.epochs for r in runs)
        self.early_stopped_ = tuple(r.early_stopped for r in runs)
        return self

    def select_settings(self, X: np.ndarray, y: Labels) -> tuple[tuple[int, ...], float]:
        """Run the search alone: the (hidden sizes, L2 weight) it chooses on these vectors.

        The search is the one :meth:`fit` runs with ``search=True`` (it also fills
        ``search_results_``); use it to choose settings once and train probes with
        them on other vectors, e.g. every fraction of a learning curve.
        """
        self._device = self._check_params()
        X, y, classes = _checked(X, y, self.labels)
        return self._search(X, y, len(classes))

    def _search(self, X: np.ndarray, y: np.ndarray, k: int) -> tuple[tuple[int, ...], float]:
        """The grid point with the best accuracy on a held-out part of the training vectors."""
        rng = np.random.default_rng([self.seed, _SEARCH_STREAM])
        fit_idx, sel_idx = _holdout(y, self.search_fraction, self.min_validation, rng)
        if len(sel_idx) == 0:
            raise FtprobeError(
                f"the search holds out {self.search_fraction:.0%} of the {len(y)} training "
                f"vectors, fewer than {self.min_validation}: too few to choose settings on; "
                "give more training vectors or a larger search_fraction, or train with fixed "
                "hidden_sizes and l2 (search = false)"
            )
        # Scaled with the statistics of the part it trains on, as the final fit will be.
        self._set_scaling(X[fit_idx])
        xs, ys = self._prepare(X[fit_idx]), torch.as_tensor(y[fit_idx], device=self._device)
        x_sel, y_sel = self._prepare(X[sel_idx]), torch.as_tensor(y[sel_idx], device=self._device)
        rows = []
        best: tuple[float, tuple[int, ...], float] | None = None
        for sizes in itertools.product((int(h) for h in self.search_sizes), repeat=2):
            for l2 in (float(w) for w in self.search_l2):
                net = self._train(xs, ys, k, sizes, l2, self.seed).net
                with torch.no_grad():
                    acc = float((net(x_sel).argmax(dim=1) == y_sel).float().mean())
                rows.append((sizes, l2, acc))
                if best is None or acc > best[0]:
                    best = (acc, sizes, l2)
        assert best is not None  # the grid is never empty (checked by _check_params)
        self.search_results_ = _search_table(rows, chosen=(best[1], best[2]))
        return best[1], best[2]

    def _train(
        self,
        xs: torch.Tensor,
        ys: torch.Tensor,
        k: int,
        hidden: Sequence[int],
        l2: float,
        seed: int,
    ) -> _Trained:
        """One network on prepared vectors, early-stopped on its own seeded hold-out."""
        rng = np.random.default_rng(seed)
        train_idx, val_idx = _holdout(
            ys.cpu().numpy(), self.validation_fraction, self.min_validation, rng
        )
        x_tr, y_tr = xs[train_idx], ys[train_idx]
        x_va, y_va = xs[val_idx], ys[val_idx]

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _MLP(xs.shape[1], hidden, k).to(self._device)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate, weight_decay=l2)
        order_gen = torch.Generator().manual_seed(seed)
        loss_fn = nn.CrossEntropyLoss()
        early = len(val_idx) > 0
        best_loss, best_state, stale, epochs_run = math.inf, None, 0, 0
        for epoch in range(1, self.max_epochs + 1):
            epochs_run = epoch
            net.train()
            order = torch.randperm(len(y_tr), generator=order_gen).to(self._device)
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
        return _Trained(net, epochs_run, early and epochs_run < self.max_epochs)

    def _set_scaling(self, X: np.ndarray) -> None:
        if self.standardize:
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            std[std < 1e-12] = 1.0
        else:
            mean = np.zeros(X.shape[1])
            std = np.ones(X.shape[1])
        self._mean = torch.as_tensor(mean, dtype=torch.float32, device=self._device)
        self._scale = torch.as_tensor(1.0 / std, dtype=torch.float32, device=self._device)

    # -- use ----------------------------------------------------------------

    def predict(self, X: np.ndarray, *, restart: int = 0) -> np.ndarray:
        """The predicted label (an element of ``classes_``) of every row of ``X``.

        With several restarts, restart number ``restart`` predicts.
        """
        indices = self._predict_indices(X, restart)
        return self.classes_[indices]

    def _predict_indices(self, X: np.ndarray, restart: int) -> np.ndarray:
        nets = self._fitted()
        if not 0 <= restart < len(nets):
            raise FtprobeError(f"restart {restart} does not exist: the probe has {len(nets)}")
        net = nets[restart]
        X = _as_matrix(X)
        if X.shape[1] != net.in_features:
            raise FtprobeError(
                f"vectors have {X.shape[1]} dimensions; the probe was trained on {net.in_features}"
            )
        out = np.empty(len(X), dtype=np.int64)
        with torch.no_grad():
            for start in range(0, len(X), _PREDICT_CHUNK):
                chunk = self._prepare(X[start : start + _PREDICT_CHUNK])
                out[start : start + len(chunk)] = net(chunk).argmax(dim=1).cpu().numpy()
        return out

    def predict_log_proba(self, X: np.ndarray) -> np.ndarray:
        """Natural-log label probabilities (n x labels, columns in ``classes_`` order).

        With several restarts the probability is their mean (a mixture of the
        networks, still a distribution), so a code built on it is a valid code.
        """
        nets = self._fitted()
        X = _as_matrix(X)
        if X.shape[1] != nets[0].in_features:
            raise FtprobeError(
                f"vectors have {X.shape[1]} dimensions; the probe was trained on "
                f"{nets[0].in_features}"
            )
        out = np.empty((len(X), len(self.classes_)), dtype=np.float64)
        with torch.no_grad():
            for start in range(0, len(X), _PREDICT_CHUNK):
                chunk = self._prepare(X[start : start + _PREDICT_CHUNK])
                logs = torch.stack([torch.log_softmax(net(chunk).double(), dim=1) for net in nets])
                mixed = torch.logsumexp(logs, dim=0) - math.log(len(nets))
                out[start : start + len(chunk)] = mixed.cpu().numpy()
        return out

    def report(self, X: np.ndarray, y: Labels) -> ProbeScores:
        """Accuracy, macro-F1 and per-label accuracy on vectors ``X`` with gold ``y``.

        ``y`` holds label names or indices; the per-label rows are the probe's
        ``classes_``. With several restarts the figures are their means and
        sample standard deviations (:func:`combine_restarts`).
        """
        nets = self._fitted()
        y = label_indices(y, self.classes_)
        if len(y) != len(X):
            raise FtprobeError(f"{len(X)} vectors but {len(y)} labels: they must pair up")
        names = list(class_names(self.classes_))
        return combine_restarts(
            [score_predictions(y, self._predict_indices(X, i), names) for i in range(len(nets))]
        )

    def score(self, X: np.ndarray, y: Labels) -> float:
        """Accuracy on vectors ``X`` with gold ``y``: the mean over restarts, as :meth:`report`."""
        return self.report(X, y).accuracy

    def _prepare(self, X: np.ndarray) -> torch.Tensor:
        # Vectors often come straight from the store's read-only memory maps, which torch
        # cannot wrap without a copy (and warns about): copy those once here.
        if not X.flags.writeable:
            X = np.array(X, dtype=np.float32)
        x = torch.as_tensor(X, dtype=torch.float32, device=self._device)
        return (x - self._mean) * self._scale

    def _fitted(self) -> list[_MLP]:
        if not getattr(self, "_nets", None):
            raise FtprobeError("the probe has not been trained: call fit() first")
        return self._nets


def _search_table(
    rows: Sequence[tuple[Sequence[int], float, float]],
    chosen: tuple[Sequence[int], float] | None = None,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hidden_sizes": [format_sizes(s) for s, _, _ in rows],
            "l2": [float(w) for _, w, _ in rows],
            "heldout_accuracy": [float(a) for _, _, a in rows],
            "selected": [chosen is not None and (tuple(s), w) == chosen for s, w, _ in rows],
        },
        columns=list(SEARCH_COLUMNS),
    )


def _checked(
    X: np.ndarray, y: Labels, labels: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training vectors, label indices and the classes, checked to pair up."""
    X = _as_matrix(X)
    classes, y = learn_classes(y, labels)
    if len(y) != len(X):
        raise FtprobeError(f"{len(X)} vectors but {len(y)} labels: they must pair up")
    if len(y) == 0:
        raise FtprobeError("cannot train a probe on zero vectors")
    return X, y, classes


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


def probe_with_labels(
    probe: ClassifierProbe | None, seed: int, labels: Sequence[str]
) -> ClassifierProbe:
    """A fresh copy of ``probe`` (default ``ClassifierProbe(seed=seed)``) to refit on subsets.

    It keeps the probe's own ``labels``, else takes ``labels``: every subset is then
    trained and scored in the same label space, even one that misses a label.
    """
    probe = clone(probe) if probe is not None else ClassifierProbe(seed=seed)
    if probe.labels is None:
        probe.set_params(labels=tuple(labels))
    return probe


def learning_curve(
    X_train: np.ndarray,
    y_train: Labels,
    eval_sets: Mapping[str, tuple[np.ndarray, Labels]],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    *,
    probe: ClassifierProbe | None = None,
) -> pd.DataFrame:
    """Train a probe on growing, nested, seeded fractions of the training vectors.

    For every fraction (see :func:`nested_subsets`, drawn with ``seed``) a probe
    is trained on that subset and evaluated on every named split of
    ``eval_sets`` (name -> (vectors, labels)). ``probe`` carries the probe's
    settings (default ``ClassifierProbe(seed=seed)``); a copy of it is refitted
    for each fraction (with a search, each fraction runs its own search on its
    own training vectors). The label space is the probe's ``labels``, else the
    one learnt from the training and evaluation labels together. Returns one
    row per (fraction, split) with columns ``fraction, n_train, split,
    accuracy, macro_f1, accuracy_sd`` (the mean and sample standard deviation
    over the probe's restarts; NaN with one).
    """
    X_train = _as_matrix(X_train)
    y_train = np.asarray(y_train)
    if len(y_train) != len(X_train):
        raise FtprobeError(
            f"{len(X_train)} training vectors but {len(y_train)} labels: they must pair up"
        )
    if not eval_sets:
        raise ConfigError("a learning curve needs at least one evaluation split")
    evals = {name: (_as_matrix(X), np.asarray(y)) for name, (X, y) in eval_sets.items()}
    every = [y for y in (y_train, *(y for _, y in evals.values())) if len(y)]
    classes, _ = learn_classes(np.concatenate(every))
    probe = probe_with_labels(probe, seed, class_names(classes))
    rows = []
    for fraction, subset in zip(
        fractions, nested_subsets(len(y_train), fractions, seed), strict=True
    ):
        probe.fit(X_train[subset], y_train[subset])
        for name, (X, y) in evals.items():
            scores = probe.report(X, y)
            rows.append(
                {
                    "fraction": float(fraction),
                    "n_train": int(len(subset)),
                    "split": name,
                    "accuracy": scores.accuracy,
                    "macro_f1": scores.macro_f1,
                    "accuracy_sd": scores.accuracy_sd,
                }
            )
    columns = ["fraction", "n_train", "split", "accuracy", "macro_f1", "accuracy_sd"]
    return pd.DataFrame(rows, columns=columns)
