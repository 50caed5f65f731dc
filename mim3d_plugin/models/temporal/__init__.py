from .scene_flow_pseudo3d import DeformableTemporalAttention, SceneFlowPseudo3DBuilder  # noqa: F401
