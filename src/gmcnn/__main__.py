from gmcnn.cli import main

raise SystemExit(main())
