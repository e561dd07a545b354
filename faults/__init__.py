"""The fault-injection suite (`make faults`, `python -m faults`; docs/reliability.md).

Private PostgreSQL and Redis (`faults.cluster`), the application as separate OS processes
(`faults.stack`), one function per fault (`faults.scenarios`), the measurements
(`faults.measure`), one run of it all (`faults.suite`) and the markdown table
(`faults.report`). An operator's tool outside the application: nothing in `core` imports it.
"""
