"""Plain helpers shared by the tests, imported one way: ``from tests.helpers.<module> import ...``.

Fixtures live in ``tests/conftest.py`` (shared) or a folder's ``conftest.py`` (that folder only);
no test imports a conftest or a sibling folder's module.

- ``configs``: the real Hydra config composed with tiny models, datasets and training settings.
- ``cards``: model cards at their smoke size, and the built model with its layout declarations.
- ``fakes``: an in-memory ``VideoSource`` with planted unreadable videos.
- ``planted``: features whose metric values are known by hand.
- ``fabricate``: features files, run directories and sweeps with planted results.
- ``vos``: reduced VOS network depth and the reference checkpoint key fixtures.
- ``known``: a user's own tiny module and the frame-order-blind known-answer check.
"""
