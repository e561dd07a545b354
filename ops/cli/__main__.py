"""`python -m ops.cli` is `signage`, for checkouts where the console script is not installed."""

from ops.cli.main import main

raise SystemExit(main())
