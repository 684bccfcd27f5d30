"""The bundled GoogLeNet model (paper and torchvision-compatible variants), checkpoints, inference.

Public API::

    googlenet(variant="paper" | "torchvision", num_classes=1000, aux_logits=True, width_mult=1.0, ...)
    save_checkpoint(path, model, **metadata) -> CheckpointInfo
    load_checkpoint(path, *, map_location="cpu", ...) -> (model, CheckpointInfo)   # CheckpointError
    prepare_for_inference(model, *, device="cpu", precision="fp32", channels_last=True) -> InferenceModel
    model_summary(variant="paper", input_size=224, width_mult=1.0, num_classes=1000) -> ModelSummary
    summary_report(...) / checkpoint_report(path) -> str   # what ``inception-eval model`` prints
"""
from .checkpoint import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CheckpointError,
    CheckpointInfo,
    checkpoint_report,
    file_sha256,
    infer_variant,
    load_checkpoint,
    save_checkpoint,
)
from .googlenet import (
    INCEPTION_SPECS,
    MIN_INPUT_SIZE,
    VARIANTS,
    GoogLeNet,
    GoogLeNetConfig,
    GoogLeNetOutputs,
    googlenet,
)
from .inference import PRECISIONS, InferenceModel, prepare_for_inference
from .summary import (
    PAPER_TABLE1,
    LayerRow,
    ModelSummary,
    PaperComparison,
    model_summary,
    paper_comparison,
    paper_comparison_markdown,
    summary_report,
)

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "CheckpointError", "CheckpointInfo", "file_sha256", "infer_variant",
    "load_checkpoint", "save_checkpoint", "INCEPTION_SPECS", "MIN_INPUT_SIZE", "VARIANTS", "GoogLeNet",
    "GoogLeNetConfig", "GoogLeNetOutputs", "googlenet", "PRECISIONS", "InferenceModel", "prepare_for_inference",
    "PAPER_TABLE1", "LayerRow", "ModelSummary", "PaperComparison", "model_summary", "paper_comparison",
    "paper_comparison_markdown", "checkpoint_report", "summary_report",
]
