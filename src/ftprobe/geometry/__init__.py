"""DirectProbe: separability, supervised clustering, hull distances, statistics, files;
and how alike two representations are (spatial similarity, linear CKA)."""
