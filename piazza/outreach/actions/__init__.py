"""Every write of the broadcasts app (convention 1), by topic: broadcasts (officers), delivery (the
pipeline), stopping (unsubscribe, preferences, bounces, complaints)."""
