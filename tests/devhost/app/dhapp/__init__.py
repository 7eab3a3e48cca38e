"""Blueprints of the dev host scenario app (a package name no other app uses)."""
