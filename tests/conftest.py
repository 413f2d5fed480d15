"""Hypothesis profiles shared by the whole test suite.

Property tests never hard-code example counts; they run under a named profile instead, so
local runs stay fast while CI explores far more inputs:

* ``quick`` (default): 60 examples per test, no deadline.
* ``thorough``: 600 examples per test, no deadline, and a reproduction blob printed for every
  failure. ``make test`` selects it when ``CI`` is set.

Pick one explicitly with the ``HYPOTHESIS_PROFILE`` environment variable. Deadlines are off
because timing on shared 2-core CI machines is too noisy to fail a build on.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("quick", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=600, deadline=None, print_blob=True)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "quick")
