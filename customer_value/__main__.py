"""``python -m customer_value``: see customer_value/cli.py."""

import sys

from customer_value.cli import main

if __name__ == "__main__":
    sys.exit(main())
