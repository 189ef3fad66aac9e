"""`python -m mmrec_core` runs the command line."""

from mmrec_core.cli import main

raise SystemExit(main())
