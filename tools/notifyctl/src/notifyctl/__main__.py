from notifyctl.cli import main

raise SystemExit(main())
