"""The sync engine's domain core: run state and counters, staging, asset rows, the activity
bodies. Orchestrators and activities are thin adapters over this package."""
