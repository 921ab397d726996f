"""``python -m safety_val``: the ``safety-val`` command line."""

from safety_val.cli import main

raise SystemExit(main())
