"""Training-loop pieces: hooks, optimizer constructors, runner fixes."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
