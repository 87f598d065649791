"""Notifications, pure: which events are worth telling, to whom, in which format, and when."""
