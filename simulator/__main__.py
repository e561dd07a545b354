"""`python -m simulator ...`: the same as `signage simulate ...`."""

from simulator.cli import main

raise SystemExit(main())
