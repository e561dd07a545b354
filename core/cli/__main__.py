"""`python -m core.cli` is `signage`, for checkouts where the console script is not installed."""

from core.cli.main import main

raise SystemExit(main())
