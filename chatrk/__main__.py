from chatrk.cli import main

raise SystemExit(main())
