"""``python -m azpe``."""

from azpe.cli import main

main()
