"""onnxruntime: sessions, providers, device-resident state and the training-step executor."""
from .providers import (available_providers, providers_for, resolve_device, session_options,
                        warn_if_denormals_computed)
from .session import Executable, RuntimeFailure

__all__ = ["Executable", "RuntimeFailure", "available_providers", "providers_for", "resolve_device",
           "session_options", "warn_if_denormals_computed"]
