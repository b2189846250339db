from daffi_codegen.cli import main

raise SystemExit(main())
