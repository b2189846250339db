from daffi_controller.cli import main

raise SystemExit(main())
