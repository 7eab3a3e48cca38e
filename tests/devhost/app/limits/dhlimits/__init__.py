"""Functions that block, on a thread or on the event loop (a package name no other app uses)."""
