"""``python -m actassert.cli``."""

import sys

from actassert.cli.parser import main

sys.exit(main())
