"""Command-line tools, installed as ``wne-*`` commands (``scripts/*.py`` run the same ``main`` from a checkout)."""
