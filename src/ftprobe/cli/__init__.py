"""The ``ftprobe`` command line: the last stage, which may import every other."""
