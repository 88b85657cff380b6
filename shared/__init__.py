"""Code shared by the API, the workers and the command line."""
