from inception_eval.cli import main

raise SystemExit(main())
