"""Customer segmentation: k-means over a use case's built features, versioned like models.

A use-case spec's ``[segmentation]`` table (``spec.parse_segmentation``) names the
features, the number of segments (or a range chosen by silhouette) and the scaling.
``train_segmentation`` fits, profiles, reports and registers a version, recording every
population entity's segment in ``customer_segments``; ``load_artifact`` reads a version
back (hash-checked JSON, never a pickle) and ``assign`` places new rows in numpy;
``segment_drift`` compares segment shares with training's. See ``docs/segmentation.md``.
"""

from appliance.segmentation.artifact import SegmentationArtifact, assign, nearest_centroid
from appliance.segmentation.drift import SegmentDrift, segment_drift
from appliance.segmentation.records import (
    SegmentationVersion,
    get_segmentation,
    list_segmentations,
    load_artifact,
    production_version,
    promote_segmentation,
    resolve_segmentation,
    segment_assignments,
)
from appliance.segmentation.spec import SegmentationSpec, parse_segmentation
from appliance.segmentation.train import SegmentationOutcome, train_segmentation

__all__ = [
    "SegmentDrift",
    "SegmentationArtifact",
    "SegmentationOutcome",
    "SegmentationSpec",
    "SegmentationVersion",
    "assign",
    "get_segmentation",
    "list_segmentations",
    "load_artifact",
    "nearest_centroid",
    "parse_segmentation",
    "production_version",
    "promote_segmentation",
    "resolve_segmentation",
    "segment_assignments",
    "segment_drift",
    "train_segmentation",
]
