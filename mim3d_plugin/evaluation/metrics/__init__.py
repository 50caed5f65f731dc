from .depth_metric import DepthMetric, depth_metrics  # noqa: F401

__all__ = ['DepthMetric', 'depth_metrics']
