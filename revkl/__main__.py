from revkl.cli import main

raise SystemExit(main())
