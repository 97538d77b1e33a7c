"""The study's tests (the orchestration): study files and the plans they give, pinned job
keys (``studies/every-job-kind.toml`` beside them), the classifier job, tables, the local
and Ray executors, and the smoke study end to end (``repo_studies`` of ``tests/conftest.py``:
the repository's own study files).
"""
