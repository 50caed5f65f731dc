from .lidar_bev_teacher import LiDARBEVTeacher  # noqa: F401
