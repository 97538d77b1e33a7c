"""Stage 5: the study runner: plans every job of a study, runs what is missing, gathers tables."""
