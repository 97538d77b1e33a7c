"""Jobs: the units of work a study is made of, identified by their provenance.

A job's key is a hash of everything that determines its result (model, checkpoint,
task, split, layer, settings, seed), so the same work planned twice has the same key,
and a finished job is recognised by its key alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

JobKind = Literal[
    "finetune", "extract", "directprobe", "classifier", "curve", "control", "mdl", "randominit"
]


@dataclass(frozen=True)
class Resources:
    """What one job needs while it runs (a scheduler such as Ray reserves this).

    ``gpus`` is what the job would like: fine-tuning and extraction ask for one,
    and run on CPUs where no GPU is to be had. Resources are no part of a job's key.
    """

    cpus: float = 1.0
    gpus: float = 0.0


class JobSpec(Protocol):
    """A typed job (see :mod:`ftprobe.study.job_specs`): its kind and what its key is made of."""

    @property
    def kind(self) -> JobKind:
        """The job's kind, the first part of its key."""
        ...

    def params(self) -> dict[str, Any]:
        """The provenance parameters the key hashes (plain JSON values)."""
        ...


def _canonical(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Job:
    """One unit of work: its kind, its provenance parameters and the jobs it needs first."""

    kind: JobKind
    params: Mapping[str, Any]
    deps: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)
    label: str = ""
    # The typed settings the job runs with; ``params`` is their key-making view.
    spec: JobSpec | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls,
        spec: JobSpec,
        deps: tuple[str, ...] = (),
        resources: Resources | None = None,
        label: str = "",
    ) -> Job:
        """The job that runs ``spec``, keyed on its parameters."""
        return cls(spec.kind, spec.params(), deps, resources or Resources(), label=label, spec=spec)

    @property
    def key(self) -> str:
        """A stable identity: ``kind-`` plus a hash of the provenance parameters."""
        digest = hashlib.sha256(_canonical({"kind": self.kind, **self.params}).encode())
        return f"{self.kind}-{digest.hexdigest()[:16]}"

    def describe(self) -> str:
        """A short human-readable description for progress and status listings."""
        return self.label or f"{self.kind} {_canonical(self.params)[:80]}"
