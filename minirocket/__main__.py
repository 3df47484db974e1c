"""``python -m minirocket``: the same command line as the ``minirocket`` console script."""
import sys

from minirocket.cli import main

if __name__ == "__main__":
    sys.exit(main())
