"""Training-loop pieces: hooks, optimizer constructors, runner fixes, averaged models (EMA)."""
from .ema import *  # noqa: F401,F403
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
