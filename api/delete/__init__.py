"""DELETE of a study, a series or an instance (as the reference service has it)."""
