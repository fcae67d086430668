"""Checkpoint files: one safe reader, the model card's facts, strict loading, the converters.

Checkpoints are untrusted input (shared drives, model zoos), so every file, whatever its
format, is read by ``reader`` as data, never as code; nothing here unpickles arbitrary objects
unless the user vouches for the file (``model.trust_checkpoint=true``).

- ``reader``: file -> Python object (torch weights-only load or a restricted unpickler).
- ``card``: the model card's checkpoint facts (family, checkpoint_format, pathway, trust).
- ``state``: unwrap a training envelope into a state dict; compare keys with a model.
- ``loading``: ``load_checkpoint(module, path, card)``, strict.
- ``convert``: other code bases' layouts -> the built module's keys.
- ``vos_release``: the VOS models' released envelopes.
"""
