"""The shared local Ray cluster fixture."""

from tests.support.ray_cluster import ray_cluster

__all__ = ["ray_cluster"]
