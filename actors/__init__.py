"""Ray actors: thin shells that host library objects from clara_ray/ in the cluster."""
