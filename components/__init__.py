"""KFP components of the REALM pipeline: definitions (KFP) over executors (plain Python over `realm`)."""
