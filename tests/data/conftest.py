"""The data stage's tests: the task model (units, label sets), the readers of UD EWT
(CoNLL-U), STREUSLE, TREC and users' own files, pre-packed DirectProbe folders, the task
registry and data folder setting, fetching the corpora, and atomic file writes.

Their shared fixtures are those of ``tests/conftest.py``, as the encode tests read the same
files: ``shared_data``, ``ewt_dev``, ``shared_reference`` and ``reference_task``.
"""
