"""``python -m bench``: the ``bench`` command, for launchers that start modules (``accelerate launch -m bench``)."""

from bench.cli import main

main()
