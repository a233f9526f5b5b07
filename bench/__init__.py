"""The benchmark: real Celery workers sync what `payments.services` bills to the Xero sandbox with Xero's
rate limits on, and each run prints calls against the floor, 429s, wall time against the rate-limit floor,
peak worker memory and the save-cost ratio. `python -m bench --help`; results in bench/RESULTS.md.

It uses its own PostgreSQL database and Redis database number, never the tests' ones, and stops every
process it started."""
