"""What uses a trained model: the web server, ONNX export, metrics and evaluation,
benchmarks, the notebook API and the demo.
"""
