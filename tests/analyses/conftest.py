"""The analyses' tests: the paper's nine analyses, the controls' analysis (10) and the
comparison with the paper's findings, each on a synthetic study whose answers are known
by construction (``tests/synthetic_study.py``, shared with the report's tests).
"""
