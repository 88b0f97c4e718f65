from openrs.tracking.run_log import main

main()
