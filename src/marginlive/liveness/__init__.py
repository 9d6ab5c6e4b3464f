"""The liveness model: architectures (training, PyTorch) and the ONNX runtime (inference)."""
