"""inception_eval: the GoogLeNet paper's test protocol, scoring and ensemble comparison."""

__all__: list[str] = []
