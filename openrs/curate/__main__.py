from openrs.curate.pipeline import main

main()
