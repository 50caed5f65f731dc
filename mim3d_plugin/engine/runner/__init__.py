from .checkpoint_compat import register_mmengine_safe_globals
from .cpu_autocast_optim_wrapper import CPUAutocastOptimWrapper

register_mmengine_safe_globals()

__all__ = ['register_mmengine_safe_globals', 'CPUAutocastOptimWrapper']
