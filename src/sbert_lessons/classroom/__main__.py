"""``python -m sbert_lessons.classroom``: the classroom kit's command line (see :mod:`.cli`)."""

import sys

from sbert_lessons.classroom.cli import main

sys.exit(main())
