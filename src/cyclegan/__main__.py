"""`python -m cyclegan` is the same as the `cyclegan` command (and what torchrun launches)."""

from cyclegan.cli import main

raise SystemExit(main())
