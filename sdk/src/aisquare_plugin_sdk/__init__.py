"""The AI Square plugin SDK. Standard library only: the same code runs inside the sandbox."""

__version__ = "0.1.0"
