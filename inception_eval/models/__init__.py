"""The bundled GoogLeNet model (paper and torchvision-compatible variants)."""
