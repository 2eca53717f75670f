"""`python -m cyclegan` is the same as the `cyclegan` command (and what torchrun launches)."""

from cyclegan.cli.main import main

raise SystemExit(main())
