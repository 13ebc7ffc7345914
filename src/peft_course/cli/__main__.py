"""`python -m peft_course.cli`: the same as the `train-lora` command."""

import sys

from . import main

sys.exit(main())
