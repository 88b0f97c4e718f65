"""A composed config made a validated job before anything heavy imports: the schemas, hardware=auto, the local data
files' columns, the batch split (load); one folder, one run (rerun, and output_dir's Hydra callback)."""
