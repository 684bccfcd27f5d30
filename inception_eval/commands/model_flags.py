"""The flags shared by ``score``, ``compare``, ``model`` and ``stamp``: preprocessing, model, compile,
precision."""
from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from inception_aug.constants import IMAGENET_MEAN
from inception_aug.errors import UsageError

if TYPE_CHECKING:
    from inception_eval.preprocessing import Preprocessing

__all__ = ["add_preprocessing_flags", "add_model_flags", "add_compile_flags", "add_precision_flag",
           "preprocessing_from"]


def add_preprocessing_flags(p: argparse.ArgumentParser) -> None:
    """--input-size, --mean, --std, --transform-input / --no-transform-input, --class-names."""
    g = p.add_argument_group(
        "preprocessing", "What the model expects. Precedence: these flags > the file's metadata (our checkpoint "
        "format, or a sidecar <file>.json) > defaults, each default announced by a warning line; "
        "`inception-eval stamp` writes them once.")
    g.add_argument("--input-size", type=int, default=None, metavar="PX",
                   help="crop side the model takes, in px; protocol scales follow it (default: the file's, else 224)")
    g.add_argument("--mean", nargs="+", default=None, metavar="V",
                   help="3 RGB values on the [0, 1] scale, e.g. --mean " + " ".join(map(str, IMAGENET_MEAN)) + " (default: the file's, "
                   "else ImageNet's)")
    g.add_argument("--std", nargs="+", default=None, metavar="V", help="3 positive RGB values, like --mean")
    g.add_argument("--transform-input", action=argparse.BooleanOptionalAction, default=None,
                   help="torchvision GoogLeNet only: re-normalise the input as torchvision's transform_input "
                   "(released ImageNet weights: on; trained with googlenet(weights=None): off). Default: the "
                   "file's, else on for a torchvision state_dict")
    g.add_argument("--class-names", metavar="FILE", default=None,
                   help="the model's class names, one per line, in output order (default: the file's)")


def add_model_flags(p: argparse.ArgumentParser, *, expectations: bool = True) -> None:
    """--weights, --factory-kwargs and (``expectations``) --num-classes, --variant."""
    g = p.add_argument_group(
        "model", "Besides GoogLeNet checkpoints, a model may be a TorchScript file, a torch.export program "
        "(.pt2) or module.path:factory, a Python callable returning an nn.Module: that imports and runs "
        "your own code, by your explicit choice. It must map a float (B, 3, S, S) batch to (B, C) logits.")
    g.add_argument("--weights", metavar="FILE", default=None,
                   help="module:factory models: a state_dict to load into the module (read weights_only); "
                   "per model also as module:factory@FILE (compare: one member per weights file)")
    g.add_argument("--factory-kwargs", metavar="JSON", default=None,
                   help="module:factory models: keyword arguments as a JSON object, e.g. '{\"num_classes\": 10}'")
    if expectations:
        g.add_argument("--num-classes", type=int, default=None,
                       help="expected number of classes (an error if the model's differs)")
        g.add_argument("--variant", choices=("paper", "torchvision"), default=None,
                       help="expected GoogLeNet variant (an error if the file's differs)")


def add_compile_flags(p: argparse.ArgumentParser) -> None:
    """``--compile`` / ``--no-compile`` into ``args.compile``: ``on``, ``off``, default ``auto``."""
    from inception_eval.constants import AUTO_COMPILE_MIN_EAGER_SECONDS, DEFAULT_COMPILE

    g = p.add_mutually_exclusive_group()
    g.add_argument("--compile", dest="compile", action="store_const", const="on", default=DEFAULT_COMPILE,
                   help="always torch.compile the model (a failing compile is an error). Default (auto): on a CPU "
                   "with a C++ compiler, time batches 2-5 eagerly and compile the rest of the run when its eager "
                   f"time would reach {AUTO_COMPILE_MIN_EAGER_SECONDS:g} s, the largest measured break-even of the "
                   "one-time compile (about 40-70 paper144 photos of GoogLeNet in bf16 here); a notice line "
                   "says which and why. Compiled kernels are kept in $TORCHINDUCTOR_CACHE_DIR or "
                   "~/.cache/inception-eval/inductor, so a rerun compiles in seconds; results agree with eager "
                   "mode to float rounding")
    g.add_argument("--no-compile", dest="compile", action="store_const", const="off",
                   help="never torch.compile the model")


def add_precision_flag(p: argparse.ArgumentParser) -> None:
    """``--precision`` (fp32, bf16, fp16, auto; default ``constants.DEFAULT_PRECISION``)."""
    from inception_eval.constants import DEFAULT_PRECISION, PRECISION_CHOICES

    p.add_argument("--precision", choices=PRECISION_CHOICES, default=DEFAULT_PRECISION,
                   help=f"forward-pass precision (default {DEFAULT_PRECISION}, the exact reference); bf16/fp16: "
                   "autocast; auto: bf16 where the device has native bf16 (AVX512-BF16/AMX CPUs, Ampere+ GPUs), "
                   "else fp32")


def _factory_kwargs(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"--factory-kwargs: not valid JSON ({e}); pass an object like '{{\"num_classes\": 10}}'")
    if not isinstance(value, dict):
        raise UsageError("--factory-kwargs must be a JSON object of keyword arguments")
    return value


def preprocessing_from(args: argparse.Namespace) -> "Preprocessing":
    """The ``preprocessing.Preprocessing`` the parsed flags state (UsageError for bad values)."""
    from inception_eval.preprocessing import Preprocessing, parse_triple, read_class_names

    names = getattr(args, "class_names", None)
    return Preprocessing(
        input_size=getattr(args, "input_size", None), mean=parse_triple(getattr(args, "mean", None), "--mean"),
        std=parse_triple(getattr(args, "std", None), "--std", positive=True),
        transform_input=getattr(args, "transform_input", None),
        class_names=read_class_names(names) if names else None,
        num_classes=getattr(args, "num_classes", None) if getattr(args, "expect_model", True) else None,
        variant=getattr(args, "variant", None) if getattr(args, "expect_model", True) else None,
        weights=getattr(args, "weights", None), factory_kwargs=_factory_kwargs(getattr(args, "factory_kwargs", None)))
