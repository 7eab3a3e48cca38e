"""Dev-only tools run from a checkout (never installed, never deployed): the one-command demo
(:mod:`devtools.demo`, ``./scripts/demo.sh``)."""
