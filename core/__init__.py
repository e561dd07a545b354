"""The domain: configuration, schema, services. Importing it makes structlog's defaults safe
(no local variables in tracebacks, secrets redacted) for any process that logs before, or
without, `core.logging.configure_logging`."""

from core.logging import use_safe_defaults

use_safe_defaults()
