"""What the platform and the operator need: the health probe and the cleanup timer."""
