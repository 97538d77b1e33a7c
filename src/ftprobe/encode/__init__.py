"""Stage 2: encoders, word-piece alignment, fine-tuning, extraction and the representation store."""
