import sys

from training.alpaca.analyze import main

sys.exit(main())
