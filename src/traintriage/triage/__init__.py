"""Triage rules, pure: what a review means for a version, and who owns a signature."""
