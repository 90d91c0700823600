"""gacn: multi-focus image fusion (focus stacking) with the GACN network."""
