"""Background work: named queues, tenant-aware jobs, runners and the scheduler."""
