"""`python -m marginlive`: the command line."""
from .cli import main

raise SystemExit(main())
