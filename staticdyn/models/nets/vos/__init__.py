"""Two-stream video object segmentation models probed in Kowal et al. (Fig. 4, Table 1).

Zoo builders (``conf/model/<entry>.yaml``): ``fusionseg.fusionseg``, ``matnet.matnet``
(entries ``matnet``, ``matnet_recip_gated``), ``rtnet.rtnet`` (``rtnet``, ``rtnet_r34``). Every
model takes ``[rgb, flow]`` and exposes hooks ``app.layerK``, ``mot.layerK`` (K = 1..5: conv1,
layer1..layer4 of each stream, after cross connections) and ``fusion.layerK`` through
``layers_of``. Released checkpoints load strictly through
``staticdyn.models.checkpoints.vos_release``.
"""

from staticdyn.models.nets.vos.common import layers_of

__all__ = ["layers_of"]
