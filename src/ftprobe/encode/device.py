"""Which device a computation runs on: the one place a ``--device`` value is checked.

Fine-tuning, embedding and the geometry all take a device name from the user
(``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``). It is checked here, before
any work, so a typo or a GPU that is not there is a clear error naming the
value rather than a torch failure in the middle of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftprobe.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> str:
    """The device to run on, as torch names it.

    ``auto`` means the GPU when torch sees one, else the CPU. Any other value is
    checked: ``cpu``, ``cuda`` (``cuda:N``) or ``mps``, case and surrounding
    spaces ignored; a CUDA device when no CUDA GPU is available, or an unknown
    name, raises :class:`~ftprobe.errors.ConfigError`. A ``torch.device`` is
    checked by its name.
    """
    # Imported here: `ftprobe --help` and the file readers should not pay for torch.
    import torch

    choice = str(device).strip().lower()
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {str(device)!r} asked for, but no CUDA GPU is available")
    if choice != "cpu" and not choice.startswith(("cuda", "mps")):
        raise ConfigError(f"unknown device {str(device)!r}: use auto, cpu or cuda")
    return choice
