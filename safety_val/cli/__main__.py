"""``python -m safety_val.cli``: the ``safety-val`` command line."""

from safety_val.cli.application import main

raise SystemExit(main())
