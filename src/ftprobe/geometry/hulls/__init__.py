"""Exact distances between convex hulls, and from points to convex hulls, in rooms.

DirectProbe measures a representation by how far apart its label-pure clusters are: the
distance between two clusters is the smallest Euclidean distance between their convex hulls
(the width of the hard-margin SVM that separates them, 0 when they overlap), and a test point
is predicted to carry the label of the cluster whose hull is nearest to it.

Both are convex quadratic programs, and every answer here comes with a certificate that is
checked in the original coordinates before it is returned:

- an *upper bound*: explicit convex weights on the points, i.e. two points of the hulls (or a
  point of the hull) whose distance is computed directly;
- a *lower bound*: the separating direction ``z`` those points define; no two points of the
  hulls are closer than the gap between the hulls' projections on ``z``.

The true distance lies between the two bounds. Distances are returned with a certified
error (``upper - lower``) at most ``rtol * distance + atol`` unless a result says otherwise.

- :mod:`~ftprobe.geometry.hulls.pair`: the distance between two hulls (:func:`hull_distance`);
- :mod:`~ftprobe.geometry.hulls.matrix`: the distances between the clusters of a partition
  (:func:`cluster_distance_matrix`);
- :mod:`~ftprobe.geometry.hulls.point`: from points to every cluster's hull
  (:func:`point_hull_distances`);
- :mod:`~ftprobe.geometry.hulls.nearest`: the nearest hull of each point, for prediction
  (:func:`nearest_hulls`; :func:`nearest_groups` when only the nearest clusters matter);
- :mod:`~ftprobe.geometry.hulls.ties`: when two distances tie, and the order ties give;
- :mod:`~ftprobe.geometry.hulls.pivoting`: the batched exact solver of small QPs the rooms
  share;
- :mod:`~ftprobe.geometry.hulls.inputs`: the input checks the rooms share.

The partition measured is :class:`ftprobe.geometry.partition.Clustering`.
"""

from ftprobe.geometry.hulls.matrix import cluster_distance_matrix
from ftprobe.geometry.hulls.nearest import nearest_groups, nearest_hulls
from ftprobe.geometry.hulls.pair import HullDistance, hull_distance
from ftprobe.geometry.hulls.point import point_hull_distances
from ftprobe.geometry.hulls.ties import TIE_RTOL, nearest_group, ranking_order, tie_tolerance

__all__ = [
    "TIE_RTOL",
    "HullDistance",
    "cluster_distance_matrix",
    "hull_distance",
    "nearest_group",
    "nearest_groups",
    "nearest_hulls",
    "point_hull_distances",
    "ranking_order",
    "tie_tolerance",
]
