"""tapegrad's autograd: scalar ``Value`` and array ``Tensor`` nodes on one tape."""

from .engine import (
    RemovableHandle,
    ScopePath,
    current_scope,
    detect_anomaly,
    enable_grad,
    hide_frames,
    is_grad_enabled,
    no_grad,
    primitive,
    scope,
    set_scope,
)
from .engine import state as thread_state
from .functional import (
    grad,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    linearize,
    value_and_grad,
    vjp,
)
from .gradcheck import GradcheckError, gradcheck
from .hooks import BackwardHook
from .recompute import checkpoint, replay_state
from .tape import Memory, explain, memory, tape
from .tensor import (
    Tensor,
    class_labels,
    concatenate,
    cross_entropy,
    from_dlpack,
    linear,
    maximum,
    minimum,
    ones,
    pad,
    randn,
    set_data,
    stack,
    tensor,
    where,
    windows,
    zeros,
)
from .trace import Program, TraceError, compile, records_step, trace
from .value import Value

__version__ = "0.1.0"

__all__ = [
    "Value", "Tensor", "tensor", "zeros", "ones", "randn", "no_grad", "enable_grad",
    "is_grad_enabled", "detect_anomaly", "concatenate", "stack", "where", "maximum", "minimum",
    "primitive", "grad", "value_and_grad", "jacobian", "hessian", "hvp", "gradcheck",
    "GradcheckError", "tape", "explain", "linear", "cross_entropy", "class_labels", "scope",
    "from_dlpack", "set_data",
    "set_scope", "current_scope", "hide_frames", "pad", "windows", "trace", "compile", "Program",
    "TraceError", "records_step", "ScopePath", "thread_state",
    "jvp", "vjp", "linearize", "jacfwd", "jacrev",
    "checkpoint", "memory",
    "Memory", "replay_state", "RemovableHandle", "BackwardHook",
]
