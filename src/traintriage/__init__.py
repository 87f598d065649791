"""traintriage: train log triage for continuous-delivery release trains."""

__version__ = "0.1.0"
