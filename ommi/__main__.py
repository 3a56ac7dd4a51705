"""``python -m ommi``: the same as the ``ommi`` command."""

from ommi._cli import main

raise SystemExit(main())
