"""``python -m bench.cli``: the ``bench`` command."""

from bench.cli.app import main

main()
