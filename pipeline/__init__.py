"""The REALM KFP v2 pipeline: definition, versioning, compile/run/submit."""
