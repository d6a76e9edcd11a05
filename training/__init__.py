"""Training: synthetic data -> scikit-learn pipeline -> evaluation -> ONNX -> model store."""
