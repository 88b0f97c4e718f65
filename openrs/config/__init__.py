"""Config: the typed schemas of a job, its hardware, rewards and curation (conf/ holds every default), and the
reference of every key written from them (keys; `python -m openrs.config`). A leaf: it imports only openrs.base."""
