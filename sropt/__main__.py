"""Allow ``python -m sropt``."""

from sropt.cli import main

main()
