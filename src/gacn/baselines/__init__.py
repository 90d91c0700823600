"""Classical fusion methods, for comparison with the network."""

from gacn.baselines.selection import average, laplacian_energy_selection

__all__ = ["average", "laplacian_energy_selection"]
