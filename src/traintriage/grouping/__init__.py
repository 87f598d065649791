"""Error signatures: stable ids for "the same bug" across train versions."""
