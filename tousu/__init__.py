"""tousu (投诉): triage of POS-machine complaints in China — the pure core.

Nothing in this package imports a web framework; the Django app in
``tousu_web`` depends on it, never the reverse.
"""
