import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/katalib.py
# The project's tests grade with the grader as it is in the working tree, edits included
# (grader/integrity.py); tests/test_tamper.py grades against an installed copy, checked.
os.environ.setdefault("KATA_EDITING_GRADER", "1")
