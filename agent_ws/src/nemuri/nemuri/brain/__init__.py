"""The brain: the transformer and its KV-cache step, the per-tick runtime, checkpoints.

    model.py       BrainConfig, TickBatch, Brain (forward over (B, T), step over one tick)
    runtime.py     TickInput, StepOutput, BrainRuntime, OnnxRuntime, TorchRuntime, RingCache
    export.py      Brain.step -> ONNX
    checkpoint.py  versioned, atomically written checkpoints under a brains directory

No ROS here: the core node and the lock-step harness both drive it through the Agent.
"""
