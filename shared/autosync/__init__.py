"""Auto-sync: schedules per connection, blob events from Event Grid, the run-end webhook."""
