"""PostgreSQL: the pool, the numbered migrations, month partitions, the retention job and the embedded server."""
