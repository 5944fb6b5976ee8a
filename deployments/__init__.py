"""Ray Serve deployments: thin shells that wire clara_ray library objects into Serve."""
