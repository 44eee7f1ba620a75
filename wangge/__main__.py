import sys

from wangge.cli import main

sys.exit(main())
