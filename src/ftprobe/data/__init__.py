"""Stage 1: labelled tasks and the readers that build them from corpus files."""

from ftprobe.data.task import Example, LabelSet, Task, Unit

__all__ = ["Example", "LabelSet", "Task", "Unit"]
