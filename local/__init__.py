"""Running the app on a laptop: the local HTTP host and the Azurite storage emulator. Not deployed."""
