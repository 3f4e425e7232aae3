import os

from hypothesis import HealthCheck, settings

# The default run (``make test``, CI) draws the same examples every time, so that a red run
# is reproducible and never a coin toss; ``HYPOTHESIS_PROFILE=thorough`` explores new ones.
settings.register_profile(
    "default",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=400, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
