from openrs.selection.checkpoint import main

main()
