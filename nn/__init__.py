"""tapegrad's ``nn``: modules, layers, losses, optimizers and safe weight files, on
``autograd.Tensor``, named and behaving as PyTorch's do."""

import autograd

from . import functional, lr_scheduler, utils
from .containers import ModuleDict, ModuleList
from .conv import AvgPool2d, Conv2d, MaxPool2d
from .data import batches
from .interop import from_torch_state_dict, to_torch_state_dict
from .layers import (
    GELU,
    MLP,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
)
from .losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)
from .lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LRScheduler,
    OneCycleLR,
    StepLR,
)
from .module import Module, Parameter, functional_call
from .normalization import BatchNorm1d, LayerNorm
from .optim import SGD, Adam, AdamW, Optimizer, RMSprop, clip_grad_norm
from .serialization import LoadError
from .summary import Summary, summary
from .utils import checkpoint_sequential

__all__ = [
    "Parameter", "Module", "Linear", "Sequential", "MLP", "ReLU", "Tanh", "Sigmoid", "Dropout",
    "MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "SGD", "Adam", "AdamW", "Optimizer",
    "clip_grad_norm", "batches", "LoadError", "to_torch_state_dict", "from_torch_state_dict",
    "functional",
    "Flatten", "Identity", "ModuleList", "ModuleDict", "LeakyReLU", "GELU", "Softmax",
    "LogSoftmax", "LayerNorm", "Embedding", "BatchNorm1d",
    "Conv2d", "MaxPool2d", "AvgPool2d",
    "NLLLoss", "BCELoss", "L1Loss", "HuberLoss", "RMSprop", "lr_scheduler", "LRScheduler",
    "LambdaLR", "StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "utils",
    "functional_call",
    "summary", "Summary",
    "checkpoint_sequential",
]

autograd.hide_frames(__name__)  # detect_anomaly reports the line that called nn, not nn's own
