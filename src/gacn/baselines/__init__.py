"""Classical fusion methods, for comparison with the network."""

from gacn.baselines.block_sf import block_spatial_frequency_fusion
from gacn.baselines.enfuse import enfuse_available, enfuse_fusion
from gacn.baselines.guided import guided_filtering_fusion
from gacn.baselines.pyramid import laplacian_pyramid_fusion
from gacn.baselines.selection import average, laplacian_energy_selection
from gacn.baselines.wavelet import dwt_fusion

__all__ = [
    "average",
    "block_spatial_frequency_fusion",
    "dwt_fusion",
    "enfuse_available",
    "enfuse_fusion",
    "guided_filtering_fusion",
    "laplacian_energy_selection",
    "laplacian_pyramid_fusion",
]
