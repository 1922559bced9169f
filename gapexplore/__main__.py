import sys

from gapexplore.cli import main

sys.exit(main())
