"""Sub-commands of ``inception-eval``. Each module defines ``register(subparsers)``."""
