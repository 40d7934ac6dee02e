"""Training: the Trainer mixin of Model (compile/fit/evaluate), GradientTape and the data adapter."""
from .tape import GradientTape
from .trainer import Trainer

__all__ = ["GradientTape", "Trainer"]
