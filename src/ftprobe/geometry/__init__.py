"""DirectProbe: separability, supervised clustering, hull distances, statistics, files."""
