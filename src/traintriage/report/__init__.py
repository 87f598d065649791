"""Reports, pure: the meeting agenda and minutes, the weekly train summary, metrics and trends."""
