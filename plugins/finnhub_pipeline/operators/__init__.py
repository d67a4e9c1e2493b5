"""Operators: check their arguments in `execute`, delegate the work to a hook, return a summary as XCom."""
