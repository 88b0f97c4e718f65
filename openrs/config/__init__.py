"""Config: the typed schemas of a job, its hardware, rewards and curation (conf/ holds every default), and loading a
composed config into them with every check that runs before anything heavy imports."""
