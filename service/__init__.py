"""The HTTP vision service: model repository, onnxruntime sessions, task pipelines and the API."""
