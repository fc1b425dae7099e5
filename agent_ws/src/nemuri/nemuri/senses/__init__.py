"""The senses: raw sensor data -> preprocessing -> an encoder -> one embedding per tick.

No ROS here. `preprocess` turns camera frames, microphone samples, touch and joint states
into fixed-size arrays; `encoders` holds the small torch models; `runtime` runs the
shipped, trained ONNX versions of them (models/); `datasets` makes the frames and spoken
words they are trained on (tools/train_encoders.py); `voice` is espeak-ng speech.
"""
