"""Input checks shared by the point-cloud transforms."""
import numpy as np
import torch


def check_finite_points(results: dict, owner: str) -> None:
    """Raise ``ValueError`` naming the LiDAR file if ``results['points']`` holds NaN or inf."""
    points = results['points']
    tensor = points.tensor if hasattr(points, 'tensor') else torch.as_tensor(np.asarray(points))
    finite = torch.isfinite(tensor).all(dim=-1)
    if not bool(finite.all()):
        path = results.get('lidar_path', results.get('lidar_points', {}).get('lidar_path'))
        raise ValueError(f'{owner}: {int((~finite).sum())} of {len(finite)} LiDAR points have NaN/inf '
                         f'coordinates or features in {path}')
