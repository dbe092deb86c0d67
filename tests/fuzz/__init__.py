"""Property-based tests: every entry point that reads user input succeeds or raises a KQAError naming where.

The inputs come from benchmarks/fuzz_inputs.py (the fuzz benchmark uses the same mutators on 10,000 inputs per entry
point); here Hypothesis drives them through `st.randoms()`, seeded (`derandomize=True`) so CI sees the same slice
every run. KQA_FUZZ_EXAMPLES=1000 runs a larger one locally.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "kqa-fuzz",
    derandomize=True,  # the same examples every run: a CI failure reproduces locally
    deadline=None,  # file-system and drawing times vary on shared machines; a slow input is not a failure
    max_examples=int(os.environ.get("KQA_FUZZ_EXAMPLES", "100")),
    database=None,  # derandomized runs replay nothing; keep .hypothesis/ out of the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("kqa-fuzz")
