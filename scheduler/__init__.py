"""The scheduler: APScheduler wiring around jobs with stable ids (see scheduler.jobs)."""
