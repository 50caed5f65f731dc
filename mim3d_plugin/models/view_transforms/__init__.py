from .depth_net import CameraAwareDepthNet, camera_mlp_input  # noqa: F401
from .depth_supervision import depth_bce_loss, depth_to_bins  # noqa: F401
from .lss_stereo_view_transformer import LSSViewTransformerBEVStereo  # noqa: F401
from .lss_view_transformer import LSSViewTransformer, grid_config_to_voxel_grid  # noqa: F401
from .stereo import stereo_cost_volume, stereo_sampling_grid  # noqa: F401
from .voxel_lifting import VoxelLifting  # noqa: F401
